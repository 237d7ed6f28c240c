from equinet.cli import app

app(prog_name="equinet")
