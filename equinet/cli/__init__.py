"""The command line: commands, options, tables, figures and the report."""
