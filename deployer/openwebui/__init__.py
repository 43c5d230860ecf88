"""Open WebUI, the chat front end: the logic behind the open_webui modules.

- config.py       arguments (service, admin) and the environment variables deployer owns
- wiring.py       how the UI reaches Ollama without exposing Ollama (the loopback trap)
- spec.py         Open WebUI's environment; the container spec, normalized for comparing and --diff
- docker.py       the docker CLI on a host (inspect with the secret masked on the host)
- imagefile.py    image ids and tags of a `docker save` archive, read on the control machine
- secret.py       WEBUI_SECRET_KEY: generated once on the host, never shown
- service_docker.py / service_pip.py   check/apply for each mode
- http.py, verify.py   /health and Ollama's models as the UI sees them; the UI's URL
- admin.py        the admin account, through Open WebUI's API
"""
