"""Proof that a host serves its model: measure it, compare with the plan, report the fleet.

- :mod:`.stats`: median and spread of a few runs.
- :mod:`.placement`: where a loaded model sits, from ``/api/ps`` (``100% GPU``, ``48%/52% CPU/GPU``).
- :mod:`.sampler`: one background command on the host that samples CPU, RAM and GPU use
  while the runs go on, and its parser.
- :mod:`.plan`: what was predicted for a host (the ``deployer_models`` variable, or computed).
- :mod:`.measure`: warm-up, timed runs through the SSH tunnel, the numbers of one benchmark.
- :mod:`.flags`: the rules that turn numbers into warnings and failures, with likely causes.
- :mod:`.report` and :mod:`.render`: the fleet report (``report.json`` and one offline ``report.html``).

The ``llm_benchmark`` module (deployer/modules/llm_benchmark.py) and ``deployer bench``
put these together; nothing here prints.
"""
