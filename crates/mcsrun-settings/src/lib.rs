//! mcsrun settings: /etc/mcsrun/config.toml, MCSRUN_* environment, --mcs-* flags, merged in that order of precedence
