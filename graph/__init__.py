"""The application: graph wiring, the run lifecycle, and the command-line tool."""
