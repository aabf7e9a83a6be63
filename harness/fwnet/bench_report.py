"""The benchmark's HTML report: one self-contained file with plots
(matplotlib from Debian, PNGs embedded)."""
import base64
import html
import io


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "<img src='data:image/png;base64,%s'/>" % base64.b64encode(buf.getvalue()).decode()


def write(path, results):
    """results: one or more bench results (several give the history plot)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = results[-1]
    order = ["raw", "bits", "efinet-adaptive", "efinet-always", "efinet-select", "efinet-4conn", "efinet-never",
             "efinet@rump", "linux"]
    tab = {(t["strategy"], t["dir"]): t for t in res["table"]}
    strategies = [s for s in order if any((s, d) in tab for d in ("rx", "tx"))]
    imgs = []

    fig, ax = plt.subplots(figsize=(9, 3.6))
    w = 0.4
    for k, d in enumerate(("rx", "tx")):
        xs = [i + (k - 0.5) * w for i in range(len(strategies))]
        ys = [tab[(s, d)]["mbps"] if (s, d) in tab else 0 for s in strategies]
        err = [[(tab[(s, d)]["mbps"] - tab[(s, d)]["mbps_min"]) if (s, d) in tab else 0 for s in strategies],
               [(tab[(s, d)]["mbps_max"] - tab[(s, d)]["mbps"]) if (s, d) in tab else 0 for s in strategies]]
        ax.bar(xs, ys, w, yerr=err, label=d)
    ax.set_xticks(range(len(strategies)), strategies, rotation=20)
    ax.set_ylabel("MB/s (median, range)")
    ax.set_yscale("log")
    ax.set_title("Throughput per strategy")
    ax.legend()
    imgs.append(_png(fig))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.6))
    gs = [s for s in strategies if s != "linux"]
    for k, d in enumerate(("rx", "tx")):
        xs = [i + (k - 0.5) * w for i in range(len(gs))]
        ax.bar(xs, [tab[(s, d)]["polls_per_mb"] if (s, d) in tab else 0 for s in gs], w, label=d)
    ax.set_xticks(range(len(gs)), gs, rotation=20)
    ax.set_ylabel("Poll() calls per MB")
    ax.set_title("Poll frequency per strategy")
    ax.legend()
    imgs.append(_png(fig))
    plt.close(fig)

    # Where the guest's time per MB goes: inside the firmware's Poll(), and
    # outside it (the socket layer, the program, Receive/Transmit calls).
    split = [(s, d) for s in gs for d in ("rx", "tx") if (s, d) in tab and tab[(s, d)].get("poll_share")]
    if split:
        fig, ax = plt.subplots(figsize=(9, 3.6))
        inside, outside = [], []
        for s, d in split:
            t = tab[(s, d)]
            ins = t.get("us_per_mb_inside_poll")
            if ins is None:  # results from before the field: from the share (medians, so approximate)
                ins = t["us_per_mb_outside_poll"] * t["poll_share"] / (1 - t["poll_share"]) if t["poll_share"] < 1 else 0
            inside.append(ins / 1000)
            outside.append(t["us_per_mb_outside_poll"] / 1000)
        xs = range(len(split))
        ax.bar(xs, inside, 0.6, label="inside Poll()")
        ax.bar(xs, outside, 0.6, bottom=inside, label="outside (overhead)")
        for x, (s, d) in zip(xs, split):
            ovh = tab[(s, d)].get("overhead")
            if ovh:
                ax.annotate("%.3f" % ovh, (x, inside[x] + outside[x]), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(xs), ["%s %s" % sd for sd in split], rotation=30, fontsize=7)
        ax.set_ylabel("guest ms per MB (medians)")
        ax.set_title("Guest time split; labels: overhead (outside per unit inside)")
        ax.legend(fontsize=7)
        imgs.append(_png(fig))
        plt.close(fig)

    if res.get("sweep"):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        sw = res["sweep"]
        labels = ["never" if s["poll_us"] < 0 else "%d us" % s["poll_us"] for s in sw]
        ax.plot(range(len(sw)), [s["mbps"] for s in sw], marker="o")
        ax.set_xticks(range(len(sw)), labels)
        ax.set_yscale("log")
        ax.set_xlabel("stall between Poll() calls (raw driver, rx)")
        ax.set_ylabel("MB/s")
        ax.set_title("Throughput against Poll interval")
        imgs.append(_png(fig))
        plt.close(fig)

    if len(results) > 1:
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for s in ("efinet-adaptive", "bits", "efinet-always"):
            for d in ("rx", "tx"):
                ys = [next((t["ratio"] for t in r["table"] if t["strategy"] == s and t["dir"] == d), None)
                      for r in results]
                ax.plot(range(len(results)), ys, marker="o", label="%s %s" % (s, d))
        ax.set_xticks(range(len(results)), [r["time"][5:16] for r in results], rotation=20)
        ax.set_ylabel("ratio to raw (same run)")
        ax.set_title("History")
        ax.legend(fontsize=7)
        imgs.append(_png(fig))
        plt.close(fig)

    from .bench import table_text
    f = res["facts"]
    body = ("<h1>fwnet bench</h1><p>%s; NIC %s; accelerator %s (%s); %s; %d bytes per transfer, "
            "%d repeats.</p>" % (html.escape(f["firmware"]), html.escape(f["nic"]), html.escape(f["accel"]),
                                 html.escape(f.get("accel_why") or ""), html.escape(res["time"]),
                                 res["size"], res["repeat"]))
    body += "<pre>%s</pre>" % html.escape(table_text(res))
    body += "".join("<div>%s</div>" % i for i in imgs)
    with open(path, "w") as out:
        out.write("<!doctype html><meta charset='utf-8'><title>fwnet bench</title>"
                  "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}pre{font-size:12px}</style>"
                  + body)
