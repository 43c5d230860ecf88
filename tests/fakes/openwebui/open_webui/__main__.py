from open_webui import app

app()
