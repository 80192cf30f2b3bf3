#!/usr/bin/python3
"""prometheus.rules: promtool validates the shipped Prometheus files and runs the rule unit tests.

  1. `promtool check rules` on config/prometheus/rules/*.yml.
  2. `promtool check config` on config/prometheus/prometheus.yml, and on the TLS + basic-auth
     job that file carries commented out (uncommented here, with its files made up in a temp
     dir), so the example an operator copies is valid too.
  3. `promtool test rules` on every tests/prometheus/*.test.yml: exact alerts with exact
     labels and annotations for given input series.
  4. The unit tests can fail: with the fast-burn threshold lowered from 14.4 to 13.9 in a copy
     of the rules, the 14x route fires too and slo.test.yml must fail.

Without promtool the test is skipped (exit 77), unless CI is set, where it fails.
Usage: check_rules.py SOURCE_DIR
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def promtool(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def must_pass(what: str, p: subprocess.CompletedProcess) -> bool:
    if p.returncode == 0:
        print(f"ok: {what}")
        return True
    print(f"FAIL: {what} (exit {p.returncode})\n{p.stdout}{p.stderr}")
    return False


def tls_variant(config_text: str, files_dir: str) -> str:
    """The shipped config with its plain traffic-analyzer job replaced by the commented-out
    TLS one, whose CA and password files point into files_dir."""
    lines = config_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  # - job_name: "))
    variant = []
    for line in lines[start:]:
        if not line.startswith("  #"):
            break
        variant.append("  " + line[4:] if line.startswith("  # ") else "")
    plain_start = next(i for i, line in enumerate(lines) if line.startswith("  - job_name: "))
    text = "\n".join(lines[:plain_start] + variant) + "\n"
    text = text.replace("/etc/prometheus/traffic-analyzer-ca.pem",
                        os.path.join(files_dir, "ca.pem"))
    return text.replace("/etc/prometheus/traffic-analyzer.password",
                        os.path.join(files_dir, "password"))


def main() -> int:
    src = os.path.abspath(sys.argv[1])
    if shutil.which("promtool") is None:
        msg = "promtool not found (Debian package prometheus)"
        if in_ci():
            print(f"FAIL: CI is set but {msg}")
            return 1
        print(f"skipped: {msg}")
        return SKIP
    conf_dir = os.path.join(src, "config", "prometheus")
    rules = sorted(glob.glob(os.path.join(conf_dir, "rules", "*.yml")))
    tests = sorted(glob.glob(os.path.join(src, "tests", "prometheus", "*.test.yml")))
    ok = bool(rules) and bool(tests)
    if not ok:
        print(f"FAIL: no rule files ({rules}) or no unit tests ({tests})")
    ok &= must_pass("promtool check rules", promtool("check", "rules", *rules))
    ok &= must_pass("promtool check config prometheus.yml",
                    promtool("check", "config", os.path.join(conf_dir, "prometheus.yml")))

    with tempfile.TemporaryDirectory(prefix="ta-promtool-") as tmp:
        # The TLS variant: same directory layout, so its rule_files path still resolves.
        shutil.copytree(conf_dir, os.path.join(tmp, "config"))
        with open(os.path.join(tmp, "ca.pem"), "w") as f:
            f.write("not read by promtool check config, which only checks the file exists\n")
        with open(os.path.join(tmp, "password"), "w") as f:
            f.write("secret\n")
        with open(os.path.join(conf_dir, "prometheus.yml")) as f:
            variant = tls_variant(f.read(), tmp)
        if "scheme: https" not in variant or "basic_auth:" not in variant:
            print("FAIL: could not find the commented TLS + basic-auth job in prometheus.yml")
            ok = False
        variant_path = os.path.join(tmp, "config", "prometheus-tls.yml")
        with open(variant_path, "w") as f:
            f.write(variant)
        ok &= must_pass("promtool check config (the commented TLS + basic-auth job)",
                        promtool("check", "config", variant_path))

        for test in tests:
            ok &= must_pass(f"promtool test rules {os.path.basename(test)}",
                            promtool("test", "rules", test))

        # Mutation: the tests must notice a wrong threshold.
        mutant_root = os.path.join(tmp, "mutant")
        os.makedirs(os.path.join(mutant_root, "tests", "prometheus"))
        shutil.copytree(os.path.join(conf_dir, "rules"),
                        os.path.join(mutant_root, "config", "prometheus", "rules"))
        rules_copy = os.path.join(mutant_root, "config", "prometheus", "rules",
                                  "traffic-analyzer.rules.yml")
        with open(rules_copy) as f:
            text = f.read()
        mutated, n = re.subn(r"> 14\.4\b", "> 13.9", text)
        if n != 2:
            print(f"FAIL: expected '> 14.4' twice (1h and 5m) in the rules, found {n}")
            ok = False
        with open(rules_copy, "w") as f:
            f.write(mutated)
        shutil.copy(os.path.join(src, "tests", "prometheus", "slo.test.yml"),
                    os.path.join(mutant_root, "tests", "prometheus"))
        p = promtool("test", "rules", os.path.join(mutant_root, "tests", "prometheus",
                                                   "slo.test.yml"))
        if p.returncode == 0 or "/health" not in p.stdout + p.stderr:
            print("FAIL: slo.test.yml still passes with the fast-burn threshold at 13.9:\n"
                  + p.stdout + p.stderr)
            ok = False
        else:
            print("ok: slo.test.yml fails when the fast-burn threshold is 13.9")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
