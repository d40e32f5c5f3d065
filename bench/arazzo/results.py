#!/usr/bin/env python3
"""Helpers of bench/arazzo-respect.sh (standard library only).

  results.py info ohi|respect FILE   print "<status> <requests>" of one run
  results.py report RESULTS.tsv      print the summary table in Markdown

RESULTS.tsv has one line per run: label, run number, wall ms, exit code,
and the three fields of info (status, HTTP calls, saw-completed).
"""
import json
import statistics
import sys


def info(kind, path):
    """Print "<status> <requests> <saw-completed>" of one run.

    saw-completed is yes when the last GetDICOMImportJob response the
    runner acted on said COMPLETED, i.e. the search ran after the import.
    """
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        print("no-output 0 no")
        return
    if kind == "ohi":
        # One step record per HTTP call (the seed workflow has operation
        # steps only).
        done = (d.get("outputs") or {}).get("jobStatus") == "COMPLETED"
        print(d.get("status", "?"), len(d.get("steps") or []), "yes" if done else "no")
        return
    # Respect's --json-output: {"status": ..., "files": {FILE:
    # {"totalRequests": n, "executedWorkflows": [{"executedSteps": [...]}]}}}
    reqs, last = 0, None
    for f in (d.get("files") or {}).values():
        reqs += int(f.get("totalRequests", 0))
        for wf in f.get("executedWorkflows") or []:
            for st in wf.get("executedSteps") or []:
                if st.get("stepId") == "pollImportJob":
                    body = (st.get("response") or {}).get("body") or {}
                    last = (body.get("jobProperties") or {}).get("jobStatus")
    print(d.get("status", "?"), reqs, "yes" if last == "COMPLETED" else "no")


def report(path):
    runs = {}
    order = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 7:
                continue
            label, _, ms, code, _, reqs, done = parts
            if label not in runs:
                runs[label] = []
                order.append(label)
            runs[label].append((float(ms), code == "0", int(reqs), done == "yes"))
    base = None
    print("| runner | runs | exit 0 | searched after COMPLETED | median wall ms/run | min | max | median HTTP calls/run | vs ohi |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label in order:
        rs = runs[label]
        ms = [r[0] for r in rs]
        med = statistics.median(ms)
        if base is None:
            base = med
        print("| %s | %d | %d | %d | %.0f | %.0f | %.0f | %g | %.1fx |" % (
            label, len(rs), sum(r[1] for r in rs), sum(r[3] for r in rs), med, min(ms), max(ms),
            statistics.median(r[2] for r in rs), med / base if base else float("nan")))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "info":
        info(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
