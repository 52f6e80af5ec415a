#!/usr/bin/python3
"""demo-community.py — the demo street's three lists as a street office
would start them (docs/community.md): needs found on grid workers' visits
in every community, three projects designed from some of them, volunteers
of the directory claiming places by skill (one project oversubscribed, as
happens when everyone crowds into the same project: 扎堆), and their first
service hours. Everything goes through intake as the demo's operator
(`gridcall community ...`, GRIDCALL_CONF), with fixed request keys, so a
second `make run` on the same data records nothing twice.

    GRIDCALL_CONF=var/run/demo.conf scripts/demo-community.py [DIRECTORY]
"""
import json
import subprocess
import sys

DIRECTORY = sys.argv[1] if len(sys.argv) > 1 else "deploy/tianjiao/directory.json"
GRIDCALL = "build/gridcall"

#  what residents tell grid workers on visits, by service category
NEEDS = {
    "svc.eldercare": "独居老人希望每周有人上门探访、陪伴聊天",
    "svc.tutoring": "双职工家庭的孩子放学后无人看护，希望有课后辅导",
    "svc.legal": "物业和邻里纠纷多，居民希望有律师定期坐班答疑",
    "svc.health": "慢病老人希望每月有医生上门量血压、看用药",
    "svc.psych": "空巢老人和困境家庭希望有心理疏导",
    "svc.employment": "失业居民希望有就业指导和技能培训",
    "svc.meal": "高龄老人希望就近有老年助餐点",
    "svc.housekeeping": "残疾人家庭希望有家政志愿服务",
}
#  projects designed from the needs: (id, name, goal, category, skill, places)
PROJECTS = [
    ("PRJ-ELDER", "银发关爱·周末探访", "每周末两人一组上门探访独居老人", "svc.eldercare", "eldercare", 4),
    ("PRJ-CLASS", "四点半课堂", "工作日放学后在社区活动室辅导作业", "svc.tutoring", "tutoring", 3),
    ("PRJ-LAW", "法律明白人坐班", "每周三下午律师和志愿者在议事之家坐班答疑", "svc.legal", "legal", 2),
]


def gridcall(*args, expect=None):
    """Run the CLI; its first word is the id of what it recorded. A refusal
    saying expect is the outcome wanted, and not reported."""
    out = subprocess.run([GRIDCALL, "community", *args], capture_output=True, text=True)
    if out.returncode != 0:
        if not expect or expect not in out.stderr:
            print(f"demo-community: gridcall community {args[0]}: {out.stderr.strip()}",
                  file=sys.stderr)
        return None
    return out.stdout.split()[0] if out.stdout.split() else None


def main():
    doc = json.load(open(DIRECTORY, encoding="utf-8"))
    grids = {}
    for g in doc["grids"]:
        grids.setdefault(g["community"], []).append(g["id"])
    codes = sorted(NEEDS)
    needs = {}                          # category -> need ids
    for i, community in enumerate(sorted(grids)):
        for j in range(2):              # two needs per community, categories rotating
            category = codes[(2 * i + j) % len(codes)]
            grid = grids[community][(3 * j + i) % len(grids[community])]
            need = gridcall("need", "--grid", grid, "--category", category,
                            "--residents", str(6 + (7 * i + 5 * j) % 20),
                            "--key", f"demo-need-{community}-{j}", NEEDS[category])
            if need:
                needs.setdefault(category, []).append(need)
    volunteers = [p for p in doc.get("people", []) if "volunteer" in p.get("roles", [])]
    for pid, name, goal, category, skill, places in PROJECTS:
        covered = needs.get(category, [])[:2]
        if not covered:
            continue
        if not gridcall("design", pid, "--name", name, "--goal", goal, "--needs", ",".join(covered),
                        "--volunteers", str(places), "--skills", skill, "--key", f"demo-{pid}"):
            continue
        # one claim more than the places: the last is refused as full
        fit = [p["id"] for p in volunteers if skill in p.get("skills", [])][:places + 1]
        for k, person in enumerate(fit):
            gridcall("claim", pid, "--person", person, "--key", f"demo-{pid}-{person}",
                     expect=None if k < places else "is full")
            if k < places:
                gridcall("hours", "--person", person, "--minutes", str(60 + 30 * k),
                         "--project", pid, "--note", name, "--key", f"demo-hours-{pid}-{person}")


if __name__ == "__main__":
    main()
