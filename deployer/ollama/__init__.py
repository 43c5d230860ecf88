"""Ollama: the HTTP API client and the logic behind the ollama_* modules."""
