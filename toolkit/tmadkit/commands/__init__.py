"""One module per `tmadkit` subcommand (see tmadkit.cli)."""
