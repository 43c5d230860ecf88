"""A stand-in application for the rollout benchmark: `init` prepares its data, `serve` runs."""
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent

if __name__ == "__main__":
    if sys.argv[1:] == ["init"]:
        (HERE / "data").mkdir(exist_ok=True)
        (HERE / ".initialized").write_text("ok\n")
    elif sys.argv[1:] == ["serve"]:
        while True:
            time.sleep(3600)
    else:
        sys.exit("usage: app.py init|serve")
