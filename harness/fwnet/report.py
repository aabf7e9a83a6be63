"""Outputs of a run: results.json, junit.xml and a summary table."""
import json
import os
import xml.etree.ElementTree as ET


def write_json(path, run):
    with open(path, "w") as f:
        json.dump(run, f, indent=1, default=str)
        f.write("\n")


def write_junit(path, run):
    suites = ET.Element("testsuites", name="fwnet")
    for b in run["backends"]:
        cases = b["scenarios"]
        s = ET.SubElement(suites, "testsuite", name="fwnet.%s" % b["backend"],
                          tests=str(len(cases)),
                          failures=str(sum(c["verdict"] == "fail" for c in cases)),
                          errors=str(sum(c["verdict"] == "error" for c in cases)),
                          skipped=str(sum(c["verdict"] == "skip" for c in cases)))
        props = ET.SubElement(s, "properties")
        for k in ("accel", "firmware", "nic", "net", "net_why", "isolation", "quirks"):
            if b.get(k):
                ET.SubElement(props, "property", name=k, value=str(b[k]))
        if run.get("net_why") and not b.get("net_why"):
            ET.SubElement(props, "property", name="net_why", value=str(run["net_why"]))
        for c in cases:
            tc = ET.SubElement(s, "testcase", classname="fwnet.%s" % b["backend"], name=c["name"],
                               time="%.3f" % c.get("seconds", 0))
            if c["verdict"] == "fail":
                ET.SubElement(tc, "failure", message=c["problems"][0] if c["problems"] else "failed"
                              ).text = "\n".join(c["problems"])
            elif c["verdict"] == "error":
                ET.SubElement(tc, "error", message=c.get("error", "error")).text = c.get("error", "")
            elif c["verdict"] == "skip":
                ET.SubElement(tc, "skipped", message=c.get("why", ""))
            if c.get("capture"):  # the scenario's own pcap (Jenkins' attachments plugin reads the line)
                tp = ET.Element("properties")
                tc.insert(0, tp)
                ET.SubElement(tp, "property", name="capture", value=c["capture"])
                ET.SubElement(tc, "system-out").text = "[[ATTACHMENT|%s]]\n" % c["capture"]
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def summary(run):
    lines = []
    if run.get("net_why"):
        lines.append("network: %s (%s)" % (run.get("net"), run["net_why"]))
    for b in run["backends"]:
        head = "backend %s" % b["backend"]
        for k in ("accel", "firmware", "nic", "net", "isolation"):
            if b.get(k):
                head += "  %s=%s" % (k, b[k])
        lines.append(head)
        w = max([len(c["name"]) for c in b["scenarios"]] + [8])
        for c in b["scenarios"]:
            note = ""
            if c["verdict"] in ("fail",):
                note = c["problems"][0]
            elif c["verdict"] == "error":
                note = c.get("error", "")
            elif c["verdict"] == "skip":
                note = c.get("why", "")
            elif c.get("deviations"):
                note = "%d listed deviation(s)" % len(c["deviations"])
            lines.append("  %-*s  %-5s %6.2fs  %s" % (w, c["name"], c["verdict"].upper(),
                                                     c.get("seconds", 0), note))
        counts = {}
        for c in b["scenarios"]:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        lines.append("  %d passed, %d failed, %d errors, %d skipped" % (
            counts.get("pass", 0), counts.get("fail", 0), counts.get("error", 0), counts.get("skip", 0)))
    return "\n".join(lines)
