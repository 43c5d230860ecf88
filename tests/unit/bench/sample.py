"""A realistic fleet report for the rendering tests: a GPU host, a spilled one, a failed one."""

from __future__ import annotations

from deployer.bench.report import FleetReport, HostReport

GIB = 2**30


def bench(model: str, predicted: float | None, measured: list[float], placement: tuple[int, int] | None,
          status: str = "ok", flags: list[dict] | None = None, planned: str = "gpu", reason: str = "") -> dict:
    ordered = sorted(measured)
    size, vram = placement or (0, 0)
    label = None
    if placement:
        label = "100% GPU" if vram == size else "100% CPU" if vram == 0 else \
            f"{round((size - vram) / size * 100)}%/{100 - round((size - vram) / size * 100)}% CPU/GPU"
    return {
        "request": model.split(":")[0],
        "model": model,
        "status": status,
        "settings": {"prompt": "Why is the sky blue?", "runs": len(measured), "num_predict": 128, "seed": 42},
        "limits": {"min_tokens_per_second": 5.0, "max_slowdown": 0.5, "only_warn": False},
        "plan": {"request": model.split(":")[0], "model": model, "source": "deployer_models", "placement": planned,
                 "cpu_share": 0.0, "tokens_per_second": predicted, "reason": reason, "context": 8192,
                 "memory_gib": 11.0, "note": None},
        "measured": {
            "tokens_per_second": {"n": len(ordered), "median": ordered[len(ordered) // 2], "min": ordered[0], "max": ordered[-1]},
            "prompt_tokens_per_second": {"n": 1, "median": 1830.0, "min": 1830.0, "max": 1830.0},
            "ttft_s": {"n": 3, "median": 0.21, "min": 0.2, "max": 0.25},
            "load_s": 3.4,
            "was_loaded": False,
            "placement": None if placement is None else {
                "label": label, "kind": "gpu", "cpu_share": (size - vram) / size, "size": size,
                "size_vram": vram, "context_length": 8192},
            "utilisation": {"samples": 12, "cpu_pct_avg": 12.5, "cpu_pct_max": 30.0, "ram_used_bytes_max": 9 * GIB,
                            "ram_total_bytes": 64 * GIB,
                            "gpus": [{"index": 0, "vendor": "nvidia", "util_pct_avg": 87.0, "util_pct_max": 97.0,
                                      "memory_used_bytes_max": 12 * GIB, "memory_total_bytes": 24 * GIB}],
                            "gpu_processes": [], "server_env": {}, "error": None},
            "runs": [],
        },
        "flags": flags or [],
    }


def hardware(cpu: str, ram_gib: int, gpus: list[tuple[str, int, float]]) -> dict:
    return {
        "hostname": "x", "cpu": cpu, "arch": "amd64", "ram_bytes": ram_gib * GIB,
        "gpus": [{"index": i, "vendor": "nvidia", "name": n, "vram_bytes": v * GIB, "bandwidth_gbs": bw,
                  "bandwidth_source": "table"} for i, (n, v, bw) in enumerate(gpus)],
        "cpu_bandwidth_gbs": 141.0, "cpu_bandwidth_source": "dmidecode",
        "cpu_bandwidth_detail": "6ch DDR4-2933", "os": "Debian GNU/Linux 12 (bookworm)", "notes": [],
    }


def sample_report() -> FleetReport:
    spill = {"kind": "spilled", "severity": "warn",
             "message": "deepseek-r1:14b spilled to the CPU although planned all on GPU: /api/ps shows 36%/64% CPU/GPU",
             "causes": ["ROCR_VISIBLE_DEVICES=0 is set for the server (Slurm sets it): Ollama >= 0.9.3 then hides NVIDIA GPUs too"]}
    slow = {"kind": "slower_than_predicted", "severity": "warn",
            "message": "deepseek-r1:14b: measured 9.8 tok/s is 12% of the predicted 81.0 tok/s (max_slowdown 0.5)",
            "causes": ["it spilled to the CPU (see above): decode runs at CPU memory speed"]}
    return FleetReport(
        source="deployer run", check_mode=False, generated_at="2026-02-01T10:00:00+00:00",
        hosts=[
            HostReport("gpu-node-01", "ok", hardware("2x Intel Xeon Gold 6230N (40 cores, 80 threads)", 188, [("NVIDIA GeForce RTX 4090", 24, 1008.0)]),
                       [bench("deepseek-r1:14b", 81.0, [78.2, 79.5, 80.1], (11 * GIB, 11 * GIB),
                              reason="RTX 4090 24 GiB: deepseek-r1:14b needs 8.4 + 1.5 KV + 1.1 = 11.0 GiB -> all on GPU, ~81 tok/s")],
                       webui_url="http://gpu-node-01:3000"),
            HostReport("gpu-node-02", "warn", hardware("AMD EPYC 7313 (16 cores, 32 threads)", 128, [("NVIDIA A100-SXM4-80GB", 80, 2039.0)]),
                       [bench("deepseek-r1:14b", 81.0, [9.6, 9.8, 10.1], (11 * GIB, 7 * GIB), "warn", [spill, slow])],
                       warnings=["open_webui: the image is 3 weeks old"]),
            HostReport("cpu-node-03", "ok", hardware("Intel Core i9-13900K (24 cores, 32 threads)", 64, []),
                       [bench("deepseek-r1:1.5b", 38.0, [33.0, 34.2, 35.5], (1 * GIB, 0), planned="cpu")]),
            HostReport("login-<b>04</b>", "failed", None, [],
                       failures=[{"task": "Install Ollama", "msg": "glibc 2.17 is older than 2.27, which Ollama's builds need"}]),
        ],
    )
