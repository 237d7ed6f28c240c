from equinet.cli.commands import app

app(prog_name="equinet")
