"""`deployer doctor`: pre-flight checks per host, each with a verdict and the fix.

    verdict.py      Verdict (ok / warn / fail / skip + detail + fix), HostReport, the exit status
    probe.py        one round trip per host: the facts probe plus a few extra sections
                    (listening ports, sudo, registry/download reachability, docker hosts)
    checks_host.py  what the host is: reachable, host key, sudo, arch/glibc, systemd, GPU,
                    the ROCR_VISIBLE_DEVICES trap, docker
    checks_plan.py  what the playbook needs there: disk, ports, registry or bundles, artefacts
    run.py          all hosts at once (a bounded pool), with the plan of deployer.stage.plan
"""
