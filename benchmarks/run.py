"""All benchmarks of deployer against other tools, side by side, in one run.

    bash benchmarks/run.sh                 # everything (needs root: real sshd hosts)
    bash benchmarks/run.sh --quick         # N = 1, 10; fewer repetitions; 256 MiB bulk
    python benchmarks/run.py rollout --hosts 1,10 --reps 3   # one part, its own options

Parts: rollout (deployer vs Ansible vs pyinfra, N = 1, 10, 50; then again
with the service-like task as a guarded command instead of the hosts'
stand-in systemctl, see rollout.py), bulk (1 GiB push vs scp), relay
(fan-out on rate-limited links). Ratios and the targets
they are held to are printed at the end, together.
"""

from __future__ import annotations

import sys

import bulk
import relay
import rollout
from tools import say

PARTS = {"rollout": rollout.main, "bulk": bulk.main, "relay": relay.main}


def main(argv: list[str]) -> int:
    if argv and argv[0] in PARTS:
        PARTS[argv[0]](argv[1:])
        return 0
    unknown = [a for a in argv if a != "--quick"]
    if unknown:
        # anything else (--help too) gets the usage instead of a 25-minute run
        print(__doc__.strip() + "\n\nA part's own options: python benchmarks/run.py rollout --help", file=sys.stderr)
        return 0 if unknown[0] in ("-h", "--help") else 2
    quick = "--quick" in argv
    plan = {
        "rollout": ["--hosts", "1,10" if quick else "1,10,50", "--reps", "2" if quick else "3"],
        "rollout-process": ["--hosts", "1,10" if quick else "1,10,50", "--reps", "2" if quick else "3", "--service", "process"],
        "bulk": ["--size-mib", "256" if quick else "1024", "--reps", "2" if quick else "3"],
        "relay": ["--reps", "1" if quick else "2"],
    }
    summary: list[str] = []
    for name, args in plan.items():
        say(f"bench: === {name} {' '.join(args)}")
        summary += PARTS[name.split("-")[0]](args)
    print("\n=== summary" + "\n".join(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
