//! mcsrun: glue from argv to settings, decision, allocation, rewrite, exec.
