from vpsorg.cli import app

app(prog_name="vpsorg")
