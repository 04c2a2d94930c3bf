#!/usr/bin/env python3
"""Times commands in interleaved rounds: each round runs every command once, in turn, so a
minute in which the machine is slow (this project's machine swings by a third within an hour)
slows every command alike. hyperfine runs all of one command's runs, then the next command's.
Each command is followed by a pause, so that none is timed while the one before still tears
down in the background (a daemon's bookkeeping, a network namespace's teardown).

Usage: interleaved.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]
Prints a markdown table: median, 10th and 90th percentile per command, and each command's
median as a multiple of the first command's. The first three rounds are not counted (warmup).
"""
import shlex
import statistics
import subprocess
import sys
import time

WARMUP = 3
PAUSE = 0.25


def main() -> None:
    rounds = int(sys.argv[1])
    commands = [arg.split("=", 1) for arg in sys.argv[2:]]
    times = {name: [] for name, _ in commands}
    for round_ in range(WARMUP + rounds):
        for name, command in commands:
            start = time.perf_counter()
            done = subprocess.run(shlex.split(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elapsed = (time.perf_counter() - start) * 1000
            if done.returncode != 0:
                sys.exit(f"interleaved: {name} exited with {done.returncode}: {command}")
            if round_ >= WARMUP:
                times[name].append(elapsed)
            time.sleep(PAUSE)
    first = statistics.median(times[commands[0][0]])
    print(f"| Command ({rounds} interleaved rounds) | Median [ms] | p10 [ms] | p90 [ms] | Relative |")
    print("|:---|---:|---:|---:|---:|")
    for name, _ in commands:
        t = sorted(times[name])
        median = statistics.median(t)
        p10, p90 = t[len(t) // 10], t[len(t) * 9 // 10]
        print(f"| `{name}` | {median:.1f} | {p10:.1f} | {p90:.1f} | {median / first:.2f} |")


if __name__ == "__main__":
    main()
