//! OCI bundle access: config.json and process.json loaded safely, edited without losing fields, written atomically
