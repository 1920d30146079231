from twinworks.cli.main import app

app()
