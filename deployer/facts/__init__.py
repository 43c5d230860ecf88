"""Hardware and software facts about a host, gathered in one round trip."""
