"""``python -m bench.markdown results.json``: the tables of docs/benchmarks.md from one run's JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.report import REMOTE_HEADER, SCALE_HEADER, gpu_lines, remote_rows, scale_rows


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def searches_table(summary: dict) -> list[str]:
    base = summary.get("lightray", {}).get("wall_s")
    lines = [_row(["contender", "wall s", "ideal s", "wall / ideal", "wall / lightray", "first trial s",
                   "set-up, first trial s", "set-up, later trials s"]),
             _row(["---"] + ["---:"] * 7)]
    for name, f in summary.items():
        vs = f"{f['wall_s'] / base:.3f}" if base else "-"
        lines.append(_row([name, f"{f['wall_s']:.1f}", f"{f['ideal_s']:.1f}", f"{f['overhead_ratio']:.3f}", vs,
                           f"{f['time_to_first_trial_s']:.1f}", f"{f['setup_first_s']:.2f}",
                           f"{f['setup_later_s']:.2f}"]))
    return lines


def tables(results: dict) -> str:
    out = [f"Machine: {results['machine']['cpus']} CPUs, {results['machine']['platform']}, Python "
           f"{results['machine']['python']}, Ray {results['machine']['ray']}, torch {results['machine']['torch']}, "
           f"{results['machine']['date']}; the whole run took {results.get('bench_wall_s', 0) / 60:.0f} min.", ""]
    if "overhead" in results:
        w = results["plan"]["overhead"]
        out += [f"**Orchestration overhead**: {w['trials']} trials of {w['epochs']} epochs of {w['num_train']} "
                f"windows, medians of {results['plan']['repetitions']} runs each", ""]
        out += searches_table(results["overhead"]["summary"]) + [""]
    for preset, searched in results.get("schedulers", {}).items():
        out += [f"**Orchestration overhead with the {preset} preset's scheduler**: the same search, medians of "
                f"{results['plan']['scheduler_repetitions']} runs each", ""]
        out += searches_table(searched["summary"]) + [""]
    if "resume" in results:
        out += ["**Resume cost**: from starting again to the first resumed training step", "",
                _row(["contender", "seconds", "restored its trials"]), _row(["---", "---:", "---"])]
        out += [_row([name, f"{f['resume_s']:.1f}", "yes" if f["all_restored"] else "no"])
                for name, f in results["resume"]["summary"].items()] + [""]
    for trials, scaled in results.get("scaling", {}).items():
        out += [f"**Scaling**: {trials} short trials", ""] + searches_table(scaled["summary"]) + [""]
    if "readiness" in results:
        out += ["**Cluster readiness** on the emulated API server", "",
                _row(["waiter / worker replicas", "latency ms", "API requests", "pod state changes"]),
                _row(["---", "---:", "---:", "---:"])]
        out += [_row([key, f"{f['latency_s'] * 1000:.0f}", f"{f['api_requests']:.0f}", f"{f['state_changes']:.0f}"])
                for key, f in results["readiness"]["summary"].items()] + [""]
    if "remote" in results:
        search = results["plan"]["remote"]
        out += [f"**Remote search** on the emulated cluster: ASHA, {search['trials']} trials of up to "
                f"{search['max_t']} epochs on {search['workers']} workers (idle timeout {search['idle_timeout_s']} s)",
                "", _row(REMOTE_HEADER), _row(["---"] + ["---:"] * (len(REMOTE_HEADER) - 1))]
        out += [_row(row) for row in remote_rows(results["remote"]["runs"])] + [""]
    if "scale" in results:
        out += ["**Scale**: searches of tiny trials (one training step each)", "", _row(SCALE_HEADER),
                _row(["---"] + ["---:"] * (len(SCALE_HEADER) - 1))]
        out += [_row(row) for row in scale_rows(results["scale"])] + [""]
    if "gpu" in results:
        out += [f"- {line}" for line in gpu_lines(results["gpu"])] + [""]
    headline = {k: v for k, v in results.items() if not isinstance(v, (dict, list))}
    out += ["**Headline figures** (`--out`, top level)", "", "```json", json.dumps(headline, indent=2), "```"]
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text())))
