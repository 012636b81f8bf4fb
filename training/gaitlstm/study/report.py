"""`report`: the study's Markdown + PNG from what `compare` and `sweep` wrote.

Partial results render too: a sweep still running (or stopped) is reported as
"N of 126 combinations done", a compare that stopped early shows the rows it has.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io.types import JOINTS_R
from ..paths import display_path
from .sweep import RESULT_SETTINGS, UI_SPLIT, combinations

SHORT = {"hip_flexion_r": "hip flex", "hip_adduction_r": "hip add", "hip_rotation_r": "hip rot",
         "knee_flexion_r": "knee", "ankle_dorsiflexion_r": "ankle"}
METHODS = ("UI", "UG", "UA", "IMU-IK")
KNEE_ANKLE = ("knee_flexion_r", "ankle_dorsiflexion_r")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def knee_ankle_mean(m: dict) -> float:
    return float(np.mean([m["joints"][j]["rmse_deg"] for j in KNEE_ANKLE if j in m["joints"]]))


def _cell(m: dict, joint: str) -> str:
    v = m["joints"].get(joint)
    return "—" if v is None else f"{v['rmse_deg']:.2f} / {v['nrmse']:.3f} / {v['r']:.2f}"


def _order(row: dict) -> tuple:
    return (METHODS.index(row["method"]) if row["method"] in METHODS else 9, row["arch"], "+".join(row["placements"]))


# ---------------------------------------------------------------- compare

def compare_section(data: dict, out: Path) -> list[str]:
    cfg = data.get("config", {})
    rows = data.get("rows", [])
    lines = ["## Method comparison (UI, UG, UA, IMU-IK)", ""]
    subj = data.get("subjects", {})
    lines += [
        f"- UG trains on {len(subj.get('train', []))} cohort subjects, validates on {subj.get('val')}, "
        f"is tested on {', '.join(subj.get('test', []))} (never seen) and on AB06's real data.",
        f"- AB06 is the new person: every AB06 row is tested on the last {1 - cfg.get('table_ratio', 0.5):.0%} of every AB06 trial; "
        f"UA fine-tunes the UG model on the first {cfg.get('table_ratio', 0.5):.0%} (curve: other ratios).",
        f"- Training: ≤ {cfg.get('max_epochs')} epochs, early stopping (patience {cfg.get('patience')}) on validation RMSE, "
        f"train stride {cfg.get('train_stride')}, lr {cfg.get('lr')}, UA lr {cfg.get('ua_lr')}; device {data.get('device')}; "
        f"{data.get('minutes', float('nan')):.1f} min in all" + ("" if "minutes" in data else " (run not finished)") + ".",
        "- Cells: RMSE (deg) / NRMSE (RMSE over the test range of motion) / r (mean Pearson r per gait cycle).",
        # runs from before the option were all gait-features/1
        f"- Feature pipeline: {cfg.get('pipeline', 'gait-features/1')} (docs/contract.md)"
        + (f"; {len(data['refused'])} trial calibration(s) refused, listed below" if data.get("refused") else "") + ".",
    ]
    lines += [f"- Note: {n}" for n in data.get("notes", [])]
    if not any(r["method"] == "IMU-IK" for r in rows) and not any("IMU-IK" in n for n in data.get("notes", [])):
        lines.append("- IMU-IK: no rows (the compare run had it switched off or did not reach it).")
    if any(r["method"] == "IMU-IK" and r["scope"] == "ab06" for r in rows):
        lines.append("- IMU-IK on AB06 real: its recordings have no static pose, so the sensor-to-segment calibration "
                     "uses 1 s of walking, and AB06's shank sensor disagrees with its own mocap on several trials "
                     "(reports/simulator); the row shows that calibration failing on real data, not a limit of "
                     "IMU-IK in general (docs/simulator.md, IMU-IK baseline).")
    joints = tuple(cfg.get("joints", JOINTS_R))
    for scope, title in (("ab06", "AB06 real (the unseen new person)"), ("cohort", "Virtual cohort (held-out subjects)")):
        sel = sorted([r for r in rows if r["scope"] == scope], key=_order)
        if not sel:
            continue
        lines += ["", f"### {title}", "", f"Test: {sel[0]['test']}.", ""]
        lines.append("| method | arch | placements | " + " | ".join(SHORT.get(j, j) for j in joints)
                     + " | mean RMSE | mean NRMSE | mean r | knee+ankle RMSE |")
        lines.append("|" + "---|" * (len(joints) + 7))
        for r in sel:
            m = r["metrics"]
            lines.append(f"| {r['method']} | {r['arch']} | {'+'.join(r['placements'])} | "
                         + " | ".join(_cell(m, j) for j in joints)
                         + f" | **{m['mean_rmse_deg']:.2f}** | {m['mean_nrmse']:.3f} | {m['mean_r']:.2f} | {knee_ankle_mean(m):.2f} |")
        if scope == "ab06":
            for arch in sorted({r["arch"] for r in sel if r["method"] in ("UG", "UA")}):
                for pl in sorted({"+".join(r["placements"]) for r in sel}):
                    ug = next((r for r in sel if r["method"] == "UG" and r["arch"] == arch and "+".join(r["placements"]) == pl), None)
                    ua = next((r for r in sel if r["method"] == "UA" and r["arch"] == arch and "+".join(r["placements"]) == pl), None)
                    if ug and ua:
                        a, b = ug["metrics"]["mean_rmse_deg"], ua["metrics"]["mean_rmse_deg"]
                        verdict = "beats" if b < a else "does NOT beat"
                        lines.append(f"\n**UA vs UG ({arch}, {pl}):** UA {verdict} UG: mean RMSE {b:.2f} vs {a:.2f} deg "
                                     f"(UA {abs(a - b):.2f} deg, {100 * abs(a - b) / a:.0f}% {'lower' if b < a else 'HIGHER'}).")
    if rows:
        fig3(rows, out / "fig3_methods.png", joints)
        lines += ["", "![methods](fig3_methods.png)", ""]
    curve = data.get("curve", [])
    if curve:
        curve_fig(curve, out / "transfer_ratio.png")
        lines += ["### Transfer ratio (UA on AB06 real)", "",
                  "Mean RMSE on the rest of every AB06 trial after fine-tuning on its first part; 0 epochs is UG without adaptation.", "",
                  "| arch | placements | ratio | " + " | ".join(f"{e} ep" for e in sorted({c['epochs'] for c in curve})) + " |",
                  "|" + "---|" * (3 + len({c['epochs'] for c in curve}))]
        epochs = sorted({c["epochs"] for c in curve})
        for key in sorted({(c["arch"], "+".join(c["placements"]), c["ratio"]) for c in curve}):
            vals = {c["epochs"]: c["metrics"]["mean_rmse_deg"] for c in curve if (c["arch"], "+".join(c["placements"]), c["ratio"]) == key}
            lines.append(f"| {key[0]} | {key[1]} | {key[2]:.0%} | " + " | ".join(f"{vals[e]:.2f}" if e in vals else "—" for e in epochs) + " |")
        for arch in sorted({c["arch"] for c in curve}):
            ua = [c for c in curve if c["arch"] == arch and c["epochs"] > 0]
            if ua:
                best = min(ua, key=lambda c: c["metrics"]["mean_rmse_deg"])
                lines.append(f"\nBest UA point ({arch}): ratio {best['ratio']:.0%}, {best['epochs']} epochs, "
                             f"{best['metrics']['mean_rmse_deg']:.2f} deg.")
        lines += ["", "![transfer ratio](transfer_ratio.png)", ""]
    return lines


def fig3(rows: list[dict], path: Path, joints: tuple[str, ...]) -> None:
    """Grouped bars like the study's Fig. 3: per joint, one bar per method x architecture."""
    plt = _plt()
    scopes = [s for s in ("ab06", "cohort") if any(r["scope"] == s for r in rows)]
    fig, axes = plt.subplots(len(scopes), 1, figsize=(11, 3.6 * len(scopes)), squeeze=False)
    colors = {"UI": "#4c72b0", "UG": "#dd8452", "UA": "#55a868", "IMU-IK": "#8c8c8c"}
    for ax, scope in zip(axes[:, 0], scopes):
        sel = sorted([r for r in rows if r["scope"] == scope and r["placements"] == rows[0]["placements"] or
                      (r["scope"] == scope and r["method"] == "IMU-IK")], key=_order)
        groups = [*joints, "mean"]
        width = 0.8 / max(1, len(sel))
        for i, r in enumerate(sel):
            m = r["metrics"]
            vals = [m["joints"][j]["rmse_deg"] if j in m["joints"] else np.nan for j in joints] + [m["mean_rmse_deg"]]
            x = np.arange(len(groups)) + (i - (len(sel) - 1) / 2) * width
            ax.bar(x, vals, width, color=colors.get(r["method"], "k"), hatch="//" if r["arch"] == "cnn" else None,
                   edgecolor="white", label=f"{r['method']} {r['arch']}".strip(" -"))
        labels = [SHORT.get(g, g) for g in groups[:-1]] + ["mean" + ("\n(IMU-IK: knee+ankle)" if scope == "ab06" else "")]
        ax.set_xticks(np.arange(len(groups)), labels)
        models = [v for r in sel if r["method"] != "IMU-IK" for v in
                  [r["metrics"]["mean_rmse_deg"], *[x["rmse_deg"] for x in r["metrics"]["joints"].values()]]]
        top = 1.3 * max(models) if models else None
        if top and any(r["method"] == "IMU-IK" and r["metrics"]["mean_rmse_deg"] > top for r in sel):
            ax.set_ylim(0, top)  # keep the models readable; the clipped baseline bars carry their value
            for p in ax.patches:
                if p.get_height() > top:
                    ax.text(p.get_x() + p.get_width() / 2, top * 0.97, f"{p.get_height():.0f}", ha="center", va="top",
                            fontsize=7, rotation=90, color="w")
        ax.set_ylabel("RMSE (deg)")
        ax.set_title({"ab06": "AB06 real (new person)", "cohort": "virtual cohort, held-out subjects"}[scope]
                     + f" — {'+'.join(rows[0]['placements'])}")
        ax.legend(ncol=4, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curve_fig(curve: list[dict], path: Path) -> None:
    plt = _plt()
    keys = sorted({(c["arch"], "+".join(c["placements"])) for c in curve})
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False, sharey=True)
    for ax, key in zip(axes[0], keys):
        sel = [c for c in curve if (c["arch"], "+".join(c["placements"])) == key]
        for e in sorted({c["epochs"] for c in sel}):
            pts = sorted((c["ratio"], c["metrics"]["mean_rmse_deg"]) for c in sel if c["epochs"] == e)
            ax.plot([100 * p[0] for p in pts], [p[1] for p in pts], "o--" if e == 0 else "o-",
                    label="UG (no adaptation)" if e == 0 else f"UA {e} epoch{'s' if e > 1 else ''}")
        ax.set_xlabel("transfer ratio (% of each AB06 trial)")
        ax.set_title(f"{key[0]} — {key[1]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("mean RMSE (deg)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- sweep

def _sweep_method(folder: Path) -> str | None:
    first = next(iter(sorted((folder / "results").glob("*.json"))), None)
    return json.loads(first.read_text()).get("method", "ug") if first else None


def load_sweep(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "results").glob("*.json"))]


def sweep_section(folder: Path, out: Path, repeats: list[Path] | None = None) -> list[str]:
    results = load_sweep(folder)
    expected = len(combinations())
    runs = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()] if (folder / "runs.jsonl").is_file() else []
    n7 = sum(len(r["placements"]) == 7 for r in results)
    done = len(results) - n7
    method = (results[0].get("method", "ug") if results else "ug").upper()
    lines = [f"## IMU-combination sweep ({method})", "",
             f"**{done} of {expected} combinations done**" + (f" (plus the 7-IMU set)" if n7 else "") + "."]
    if not results:
        return lines + ["", "No results yet."]
    s = results[0]["settings"]
    mixed = {json.dumps(r["settings"], sort_keys=True) for r in results}
    per = [r["seconds"] for r in results]
    ends = [r.get("finished") or (folder / "results" / f"{'+'.join(r['placements'])}.json").stat().st_mtime for r in results]
    span = (max(ends) - min(e - r["seconds"] for e, r in zip(ends, results))) / 60
    lines += [
        f"- Settings: {results[0]['arch']}, ≤ {s['epochs']} epochs (patience {s['patience']}), train stride {s['train_stride']}, "
        f"lr {s['lr']}, batch {s['batch_size']}; "
        + (f"tested on the unseen cohort subjects {', '.join(results[0]['subjects']['test'])}; " if method == "UG" else
           f"one model per cohort subject {', '.join(results[0]['subjects']['test'])}, trained on the first "
           f"{UI_SPLIT[0]:.0%} of each of its trials, validated on {UI_SPLIT[0]:.0%}-{UI_SPLIT[1]:.0%}, tested on the "
           f"last {1 - UI_SPLIT[1]:.0%}; ")
        + f"device {results[0]['device']}." + (" **Warning: results with different settings are mixed.**" if len(mixed) > 1 else ""),
        f"- Time: {np.mean(per):.0f} s per combination on one core (median {np.median(per):.0f} s); "
        f"wall clock from the first combination's start to the last one's end: {span:.1f} min "
        f"(runs logged in runs.jsonl: {len(runs)}).",
        "- Every model estimates the RIGHT leg's angles (the product's outputs); a combination without a right-leg "
        "sensor (e.g. femur_l+calcn_l) estimates them from the other leg and the pelvis.",
    ]
    results.sort(key=lambda r: r["metrics"]["mean_rmse_deg"])
    names = ["+".join(r["placements"]) for r in results]
    pairs = [(i, r) for i, r in enumerate(results) if len(r["placements"]) == 2]
    lines += ["", "### Is femur + calcaneus the best pair?", ""]
    for target in ("femur_r+calcn_r", "femur_l+calcn_l"):
        if target in names:
            i = names.index(target)
            prank = next(k for k, (_, r) in enumerate(pairs) if "+".join(r["placements"]) == target) + 1
            lines.append(f"- `{target}`: mean RMSE {results[i]['metrics']['mean_rmse_deg']:.2f} deg, rank {prank} of "
                         f"{len(pairs)} pairs done, rank {i + 1} of {len(results)} combinations done.")
        else:
            lines.append(f"- `{target}`: not done yet.")
    if pairs:
        best = pairs[0][1]
        lines.append(f"- Best pair: `{'+'.join(best['placements'])}` ({best['metrics']['mean_rmse_deg']:.2f} deg); "
                     f"best overall: `{names[0]}` ({results[0]['metrics']['mean_rmse_deg']:.2f} deg).")
        lines += ["", "| rank (pairs) | pair | mean RMSE | " + " | ".join(SHORT[j] for j in JOINTS_R) + " |", "|" + "---|" * 8]
        for k, (_, r) in enumerate(pairs):
            lines.append(f"| {k + 1} | {'+'.join(r['placements'])} | {r['metrics']['mean_rmse_deg']:.2f} | "
                         + " | ".join(f"{r['metrics']['joints'][j]['rmse_deg']:.2f}" for j in JOINTS_R) + " |")
    if repeats:
        lines += seed_spread_lines(results, repeats)
    lines += ["", "Best 10 combinations overall:", "", "| rank | placements | n | mean RMSE | mean r |", "|---|---|---|---|---|"]
    for i, r in enumerate(results[:10]):
        lines.append(f"| {i + 1} | {names[i]} | {len(r['placements'])} | {r['metrics']['mean_rmse_deg']:.2f} | {r['metrics']['mean_r']:.2f} |")
    png = "sweep_heatmap.png" if method == "UG" else f"sweep_heatmap_{method.lower()}.png"
    heatmap(results, out / png, f"{method}, {done} of {expected} combinations")
    lines += ["", f"![sweep heat map]({png})", ""]
    return lines


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test; 1.0 when both samples are constant and equal."""
    from scipy.stats import ttest_ind

    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    return float(ttest_ind(a, b, equal_var=False).pvalue)


SETTINGS_BUT_SEED = tuple(k for k in RESULT_SETTINGS if k != "seed")


def seed_spread_lines(results: list[dict], repeats: list[Path], target: str = "femur_r+calcn_r") -> list[str]:
    """The pairs trained again with other seeds: is the ranking of the pairs more than seed noise?"""
    def key(r: dict) -> tuple:
        return (r["arch"], tuple(r["subjects"]["test"]), tuple(r["settings"][k] for k in SETTINGS_BUT_SEED))

    ref = key(results[0])
    if len({r["settings"]["seed"] for r in results}) > 1:
        raise ValueError("the main sweep mixes seeds; repeats with other seeds go to their own folders")
    per_seed: dict[int, dict[str, float]] = {results[0]["settings"]["seed"]: {
        "+".join(r["placements"]): r["metrics"]["mean_rmse_deg"] for r in results if len(r["placements"]) == 2}}
    for folder in repeats:
        rep = [r for r in load_sweep(folder) if len(r["placements"]) == 2]
        if not rep:
            raise FileNotFoundError(f"{folder}: no pair results (results/*.json) to compare seeds with")
        for r in rep:
            if key(r) != ref:
                raise ValueError(f"{folder}: {'+'.join(r['placements'])} was trained with other settings than the main "
                                 f"sweep ({key(r)} vs {ref}); a seed repeat must differ in the seed only")
        seed = rep[0]["settings"]["seed"]
        if len({r["settings"]["seed"] for r in rep}) > 1:
            raise ValueError(f"{folder}: results of several seeds in one folder; a repeat folder holds one seed")
        if seed in per_seed:
            raise ValueError(f"{folder}: seed {seed} is already in the report; each repeat needs its own seed")
        per_seed[seed] = {"+".join(r["placements"]): r["metrics"]["mean_rmse_deg"] for r in rep}
    seeds = sorted(per_seed)
    pairs = sorted(set.intersection(*(set(v) for v in per_seed.values())))
    if target not in pairs:
        return ["", f"Seed repeats: `{target}` is not in every seed's results yet."]
    vals = {p: np.array([per_seed[s][p] for s in seeds]) for p in pairs}
    n = len(seeds)
    mean = {p: float(v.mean()) for p, v in vals.items()}
    std = {p: float(v.std(ddof=1)) for p, v in vals.items()}
    order = sorted(pairs, key=mean.__getitem__)

    # Welch's t-test per pair against the target (unequal variances; few seeds, so its
    # t distribution, not a normal "2 standard errors" rule). No correction for the
    # 20 comparisons: a p just under 0.05 among 20 is weak evidence, and we say so.
    pvalue = {p: _welch_p(vals[target], vals[p]) for p in pairs if p != target}
    better = [p for p in order if p != target and mean[p] < mean[target] and pvalue[p] < 0.05]
    closest = min((p for p in pvalue if mean[p] < mean[target]), key=pvalue.__getitem__, default=None)
    rank = order.index(target) + 1
    lines = ["", f"### Seed spread: the {len(pairs)} pairs trained with {n} seeds ({', '.join(map(str, seeds))})", "",
             f"- `{target}`: {mean[target]:.2f} ± {std[target]:.2f} deg (mean ± sd over seeds), rank {rank} of {len(pairs)}; "
             f"best pair `{order[0]}` {mean[order[0]]:.2f} ± {std[order[0]]:.2f} deg; median sd of a pair over seeds "
             f"{np.median(list(std.values())):.2f} deg.",
             f"- Pairs better than `{target}` at p < 0.05 (Welch's t-test per pair over the seeds, not corrected for "
             f"{len(pvalue)} comparisons): "
             + (", ".join(f"`{p}` ({mean[p]:.2f}, p {pvalue[p]:.3f})" for p in better) if better else "none")
             + (f"; closest: `{closest}` (p {pvalue[closest]:.3f})" if closest and closest not in better else "") + ".",
             "", "| rank | pair | " + " | ".join(f"seed {s}" for s in seeds) + f" | mean | sd | p vs {target} |",
             "|" + "---|" * (n + 5)]
    for i, p in enumerate(order):
        lines.append(f"| {i + 1} | {'**' + p + '**' if p == target else p} | "
                     + " | ".join(f"{x:.2f}" for x in vals[p]) + f" | {mean[p]:.2f} | {std[p]:.2f} | "
                     + (f"{pvalue[p]:.3f}" if p in pvalue else "—") + " |")
    return lines


def heatmap(results: list[dict], path: Path, subtitle: str) -> None:
    """RMSE per joint (columns) and combination (rows, best first), like the study's Fig. 5."""
    plt = _plt()
    joints = list(JOINTS_R)
    z = np.array([[r["metrics"]["joints"][j]["rmse_deg"] for j in joints] + [r["metrics"]["mean_rmse_deg"]] for r in results])
    labels = ["+".join(p.replace("femur", "fem").replace("tibia", "tib").replace("calcn", "cal").replace("pelvis", "pel")
                       for p in r["placements"]) for r in results]
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.16 * len(results)))
    im = ax.imshow(z, aspect="auto", cmap="viridis_r")
    ax.set_xticks(range(len(joints) + 1), [SHORT[j] for j in joints] + ["mean"])
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    light = z < np.nanmin(z) + 0.4 * (np.nanmax(z) - np.nanmin(z))  # yellow end of viridis_r: dark text
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            ax.text(j, i, f"{z[i, j]:.1f}", ha="center", va="center", fontsize=5, color="k" if light[i, j] else "w")
    for tick, r in zip(ax.get_yticklabels(), results):
        if r["placements"] in (["femur_r", "calcn_r"], ["femur_l", "calcn_l"]):  # the product's pair
            tick.set_color("red")
            tick.set_fontweight("bold")
    ax.xaxis.tick_top()
    fig.colorbar(im, ax=ax, label="RMSE (deg)", shrink=0.5)
    ax.set_title(f"RMSE per combination, sorted by mean ({subtitle}); red: femur + calcaneus", fontsize=9, pad=22)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- the report

def write_report(runs: list[Path], out: Path, repeats: list[Path] | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The study's comparison, reproduced", "",
             "Generated by `python -m gaitlstm.study report` from the run folders "
             + ", ".join(f"`{display_path(r)}`" for r in runs)
             + (" (seed repeats: " + ", ".join(f"`{display_path(r)}`" for r in repeats) + ")" if repeats else "")
             + "; see docs/study.md for what each method means and how to rerun it.", ""]
    methods = {_sweep_method(f) for f in runs if (f / "results").is_dir()}
    orphans = [str(r) for r in repeats or [] if _sweep_method(r) not in methods]
    if orphans:
        raise ValueError(f"--repeats {', '.join(orphans)}: no sweep of the same method in --runs to compare the seeds with")
    found = False
    for folder in runs:
        if (folder / "compare.json").is_file():
            lines += compare_section(json.loads((folder / "compare.json").read_text()), out)
            found = True
        if (folder / "results").is_dir() or (folder / "features.npz").is_file():
            # Seed repeats belong to the sweep of their own method (a UG repeat says nothing of UI).
            lines += sweep_section(folder, out, [r for r in repeats or [] if _sweep_method(r) == _sweep_method(folder)])
            found = True
    if not found:
        raise FileNotFoundError(f"none of {[str(r) for r in runs]} holds a compare.json or a sweep's results/")
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path
