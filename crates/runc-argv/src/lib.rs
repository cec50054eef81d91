//! runc's command-line grammar: finds the subcommand, id, bundle and flags mcsrun needs, and strips mcsrun's own flags (pure, no I/O)
