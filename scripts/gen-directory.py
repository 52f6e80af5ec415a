#!/usr/bin/env python3
"""gen-directory.py — writes deploy/tianjiao/directory.json, the demo street.

Tianjiao Street (天骄街道, 东胜区, 鄂尔多斯市) as the seed case study describes
it: 63 grids, the 9 categories of the service card, 102 co-building units
(the lawyers' association on duty Wednesday afternoons, the notary office,
the property company, the judicial office, the women's federation, civil
affairs, the pharmacy association...). Communities other than 安达 and 天骄,
and all people, buildings and phone numbers, are invented. Deterministic:
the same run gives the same file. It checks that every category, at every
tier from its start tier up to DISTRICT, has at least two units (three for a
joint category) in every grid, one of them without a duty rota.

Usage: scripts/gen-directory.py [OUTPUT]   (default deploy/tianjiao/directory.json)
"""
import datetime
import json
import random
import sys

TIERS = ["GRID", "COMMUNITY", "STREET", "DISTRICT"]
rng = random.Random(20220802)   # the seed article's publication date

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红燕鹏辉建国志宏海波丹宁斌峰婷雪梅琳晨阳慧颖博文浩宇鑫瑞俊凯欣怡佳琪乐晓东"


def person():
    """A plausible invented Chinese name."""
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def phone():
    """An invented Ordos landline number."""
    return "0477-8%06d" % rng.randrange(1000000)


# Communities: (id, name, grid count, residential compounds)
COMMUNITIES = [
    ("C01", "安达社区", 9, ["安达小区", "惠民小区", "铁西单片楼"]),
    ("C02", "天骄社区", 8, ["伊泰华府", "天骄花园", "党政大楼家属院"]),
    ("C03", "和谐社区", 8, ["和谐家园", "富兴小区", "天骄商城公寓"]),
    ("C04", "团结社区", 8, ["团结小区", "金辉苑", "移民新村"]),
    ("C05", "育才社区", 8, ["育才小区", "教师公寓", "书香苑"]),
    ("C06", "祥和社区", 8, ["伊泰城市广场", "祥和小区", "棚改安置区"]),
    ("C07", "铁路社区", 7, ["铁路住宅区", "站前小区", "货场家属院"]),
    ("C08", "兴盛社区", 7, ["兴盛嘉园", "万正广场", "东兴小区"]),
]
assert sum(c[2] for c in COMMUNITIES) == 63

GRID_LIMITS = {"GRID": 240, "COMMUNITY": 480, "STREET": 1440, "DISTRICT": 2880}
SERVICE_LIMITS = {"COMMUNITY": 2880, "STREET": 4320, "DISTRICT": 10080}

# Categories: (code, name, kind, start tier, limits in minutes, joint units)
CATEGORIES = [
    ("svc.legal", "法律援助", "service", "COMMUNITY",
     {"COMMUNITY": 10080, "STREET": 14400, "DISTRICT": 20160}, 1),
    ("svc.employment", "就业服务", "service", "COMMUNITY", SERVICE_LIMITS, 1),
    ("svc.psych", "心理疏导", "service", "COMMUNITY", SERVICE_LIMITS, 1),
    ("svc.notary", "公证服务", "service", "COMMUNITY",
     {"COMMUNITY": 4320, "STREET": 7200, "DISTRICT": 14400}, 1),
    ("svc.meal", "老年助餐", "service", "COMMUNITY",
     {"COMMUNITY": 480, "STREET": 1440, "DISTRICT": 2880}, 1),
    ("svc.eldercare", "养老服务", "service", "COMMUNITY", SERVICE_LIMITS, 1),
    ("svc.health", "医疗健康", "service", "COMMUNITY",
     {"COMMUNITY": 1440, "STREET": 2880, "DISTRICT": 4320}, 1),
    ("svc.housekeeping", "家政服务", "service", "COMMUNITY", SERVICE_LIMITS, 1),
    ("svc.tutoring", "青少年课业辅导", "service", "COMMUNITY", SERVICE_LIMITS, 1),
    ("env.garbage", "垃圾清运", "incident", "GRID", GRID_LIMITS, 1),
    ("env.sanitation", "环境卫生", "incident", "GRID",
     {"GRID": 480, "COMMUNITY": 960, "STREET": 2880, "DISTRICT": 4320}, 1),
    ("env.noise", "噪声扰民", "incident", "GRID",
     {"GRID": 120, "COMMUNITY": 240, "STREET": 480, "DISTRICT": 1440}, 1),
    ("infra.road", "道路破损", "incident", "COMMUNITY",
     {"COMMUNITY": 1440, "STREET": 2880, "DISTRICT": 4320}, 1),
    ("infra.streetlight", "路灯故障", "incident", "GRID",
     {"GRID": 480, "COMMUNITY": 1440, "STREET": 2880, "DISTRICT": 4320}, 1),
    ("infra.water_leak", "供水管道漏水", "incident", "COMMUNITY",
     {"COMMUNITY": 120, "STREET": 240, "DISTRICT": 480}, 1),
    ("infra.power", "停电与供电故障", "incident", "COMMUNITY",
     {"COMMUNITY": 120, "STREET": 240, "DISTRICT": 480}, 1),
    ("infra.heating", "供暖故障", "incident", "COMMUNITY",
     {"COMMUNITY": 240, "STREET": 480, "DISTRICT": 1440}, 1),
    ("safety.gas_leak", "燃气泄漏", "incident", "STREET",
     {"STREET": 30, "DISTRICT": 60}, 1),
    ("safety.fire_hazard", "消防隐患", "incident", "GRID",
     {"GRID": 240, "COMMUNITY": 480, "STREET": 960, "DISTRICT": 1440}, 1),
    ("safety.public_order", "治安隐患", "incident", "GRID",
     {"GRID": 120, "COMMUNITY": 240, "STREET": 720, "DISTRICT": 1440}, 1),
    ("dispute.neighbour", "邻里纠纷", "incident", "GRID", GRID_LIMITS, 1),
    ("dispute.family", "家庭纠纷", "incident", "COMMUNITY",
     {"COMMUNITY": 2880, "STREET": 4320, "DISTRICT": 10080}, 3),
    ("dispute.lending", "民间借贷纠纷", "incident", "COMMUNITY",
     {"COMMUNITY": 4320, "STREET": 10080, "DISTRICT": 20160}, 1),
    ("property.service", "物业服务", "incident", "GRID", GRID_LIMITS, 1),
    ("property.illegal_construction", "违章搭建", "incident", "COMMUNITY",
     {"COMMUNITY": 1440, "STREET": 2880, "DISTRICT": 7200}, 1),
]

# Clocks: categories whose time limits count working time (the calendar
# below); every other category runs on wall time (emergencies, daily crews).
WORKING_TIME = {"svc.legal", "svc.employment", "svc.psych", "svc.notary", "svc.meal",
                "svc.eldercare", "svc.health", "svc.housekeeping", "svc.tutoring",
                "infra.road", "dispute.family", "dispute.lending",
                "property.illegal_construction"}
# The community call: how many units a climb summons at a tier, where more
# than the category's joint_units (lead plus assisting units).
JOINT_BY_TIER = {
    "safety.fire_hazard": {"STREET": 2, "DISTRICT": 3},
    "safety.gas_leak": {"DISTRICT": 2},
    "dispute.neighbour": {"STREET": 2, "DISTRICT": 2},
    "infra.water_leak": {"DISTRICT": 2},
}
# Reminder (yellow) at this fraction of a tier's limit; emergencies earlier.
REMINDER = {"safety.gas_leak": 0.5, "infra.water_leak": 0.5, "infra.power": 0.5}


def days(first, last=None):
    """ISO dates from first to last (inclusive), "YYYY-MM-DD"."""
    d0 = datetime.date.fromisoformat(first)
    d1 = datetime.date.fromisoformat(last or first)
    return [(d0 + datetime.timedelta(n)).isoformat() for n in range((d1 - d0).days + 1)]


# The working calendar: office hours Monday to Friday, and the 2026
# statutory holidays with their make-up working days (调休), as the State
# Council's notice for 2026 sets them.
CALENDAR = {
    "working_hours": [{"weekday": d, "from": f, "to": t}
                      for d in (1, 2, 3, 4, 5) for f, t in (("08:30", "12:00"),
                                                           ("14:30", "18:00"))],
    "holidays": (days("2026-01-01", "2026-01-03")          # 元旦
                 + days("2026-02-15", "2026-02-23")        # 春节
                 + days("2026-04-04", "2026-04-06")        # 清明节
                 + days("2026-05-01", "2026-05-05")        # 劳动节
                 + days("2026-06-19", "2026-06-21")        # 端午节
                 + days("2026-09-25", "2026-09-27")        # 中秋节
                 + days("2026-10-01", "2026-10-07")),      # 国庆节
    "makeup_days": ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09",
                    "2026-09-20", "2026-10-10"],
    "makeup_weekday": 1,
}

WEEKDAYS = [1, 2, 3, 4, 5]
OFFICE_HOURS = [{"weekday": d, "from": f, "to": t}
                for d in WEEKDAYS for f, t in (("09:00", "12:00"), ("14:30", "17:30"))]
AFTER_SCHOOL = [{"weekday": d, "from": "16:30", "to": "19:00"} for d in WEEKDAYS]
WEEKENDS = [{"weekday": d, "from": "09:00", "to": "17:00"} for d in (6, 7)]

G, C, S, D = TIERS
ALL = "street"
units = []


def unit(name, kind, tiers, categories, coverage=ALL, capacity=10, rota=None):
    """Append a unit with an invented responsible person and contact."""
    entry = {
        "id": "U%03d" % (len(units) + 1),
        "name": name,
        "kind": kind,
        "responsible": person(),
        "contact": phone(),
        "tiers": tiers,
        "categories": categories,
        "coverage": coverage,
        "capacity": capacity,
    }
    if rota:
        entry["rota"] = rota
    units.append(entry)


def communities(*ids):
    return {"communities": list(ids)}


# The units the seed names, first
unit("鄂尔多斯市律师行业协会", "lawyers", [C, S], ["svc.legal", "dispute.lending", "dispute.family"],
     capacity=10, rota=[{"weekday": 3, "from": "14:00", "to": "18:00"}])
unit("佳信公证处", "notary", [C, S], ["svc.notary"], capacity=8, rota=OFFICE_HOURS)
unit("伊泰物业公司", "property", [G, C],
     ["property.service", "env.garbage", "env.sanitation", "infra.streetlight",
      "infra.water_leak", "infra.heating", "safety.fire_hazard"],
     communities("C02", "C06"), capacity=30)
unit("天骄街道司法所", "judicial", [C, S],
     ["dispute.neighbour", "dispute.family", "dispute.lending", "svc.legal"], capacity=15)
unit("天骄街道妇女联合会", "womens_federation", [C, S],
     ["dispute.family", "svc.psych", "svc.employment", "svc.housekeeping"], capacity=10)
unit("天骄街道民政办", "civil_affairs", [C, S],
     ["dispute.family", "svc.eldercare", "svc.meal"], capacity=12)
unit("鄂尔多斯市医药行业协会", "pharmacy", [C, S], ["svc.health"], capacity=8, rota=WEEKENDS)

# Per community: residents' committee, grid service team, mediation
# committee, volunteers, and a property company where 伊泰 is not
PROPERTY = {
    "C01": "安泰物业服务有限公司", "C03": "和信物业服务有限公司",
    "C04": "金辉物业服务有限公司", "C05": "育才苑物业管理有限公司",
    "C07": "铁路房产物业管理中心", "C08": "万正物业服务有限公司",
}
for cid, cname, _, _ in COMMUNITIES:
    where = communities(cid)
    unit(cname + "居民委员会", "community", [G, C],
         ["env.garbage", "env.sanitation", "env.noise", "infra.streetlight",
          "dispute.neighbour", "property.service", "safety.public_order",
          "safety.fire_hazard", "infra.road", "property.illegal_construction"],
         where, capacity=30)
    unit(cname + "网格服务队", "grid_team", [G],
         ["env.garbage", "env.sanitation", "env.noise", "infra.streetlight",
          "dispute.neighbour", "property.service", "safety.public_order",
          "safety.fire_hazard"], where, capacity=40)
    unit(cname + "人民调解委员会", "mediation", [G, C],
         ["dispute.neighbour", "dispute.family", "dispute.lending"], where, capacity=10)
    unit(cname + "志愿服务队", "volunteers", [G, C],
         ["env.sanitation", "svc.meal", "svc.eldercare", "svc.tutoring"], where, capacity=15)
    if cid in PROPERTY:
        unit(PROPERTY[cid], "property", [G, C],
             ["property.service", "env.garbage", "env.sanitation", "infra.streetlight",
              "infra.water_leak", "infra.heating", "safety.fire_hazard"],
             where, capacity=20)

# Street offices and services
unit("天骄街道综合行政执法队", "city_management", [G, C, S],
     ["env.garbage", "env.sanitation", "env.noise", "infra.road", "infra.streetlight",
      "property.illegal_construction"], capacity=25)
unit("天骄街道综治中心", "government", [S],
     ["dispute.neighbour", "dispute.family", "dispute.lending", "safety.public_order",
      "property.service", "property.illegal_construction", "env.noise"], capacity=20)
unit("天骄街道城建办", "government", [C, S],
     ["infra.road", "infra.water_leak", "infra.power", "infra.heating",
      "property.service", "property.illegal_construction"], capacity=15)
unit("天骄街道应急管理办", "government", [C, S],
     ["safety.gas_leak", "safety.fire_hazard", "safety.public_order"], capacity=10)
unit("天骄街道环卫所", "sanitation", [G, C, S], ["env.garbage", "env.sanitation"], capacity=30)
unit("天骄街道劳动保障事务所", "employment", [C, S], ["svc.employment"], capacity=15)
unit("天骄街道养老服务中心", "eldercare", [C, S], ["svc.eldercare", "svc.meal"], capacity=20)
unit("天骄派出所", "police", [G, C, S],
     ["safety.public_order", "env.noise", "dispute.neighbour", "dispute.family"], capacity=30)
unit("天骄消防救援站", "fire", [C, S, D], ["safety.fire_hazard", "safety.gas_leak"], capacity=10)
unit("天骄社区卫生服务中心", "health", [C, S], ["svc.health", "svc.eldercare"],
     communities("C01", "C02", "C03", "C04"), capacity=25)
unit("安达社区卫生服务中心", "health", [C, S], ["svc.health", "svc.eldercare"],
     communities("C05", "C06", "C07", "C08"), capacity=25)
unit("天骄长者食堂", "meal", [C], ["svc.meal"], communities("C01", "C02", "C03", "C04"),
     capacity=50)
unit("安达长者餐厅", "meal", [C], ["svc.meal"], communities("C05", "C06", "C07", "C08"),
     capacity=50)
unit("鄂尔多斯市惠民餐饮服务有限公司", "meal", [C, S, D], ["svc.meal"], capacity=40)
unit("内蒙古天骄律师事务所", "lawyers", [C, S], ["svc.legal", "dispute.lending"], capacity=6)
unit("鄂尔多斯市心理咨询师协会", "psychology", [C, S], ["svc.psych"], capacity=6,
     rota=[{"weekday": d, "from": "09:00", "to": "17:00"} for d in (2, 4)])
unit("东胜区心理健康服务中心", "psychology", [C, S, D], ["svc.psych"], capacity=10)
unit("鄂尔多斯市巾帼家政服务有限公司", "housekeeping", [C, S, D], ["svc.housekeeping"],
     capacity=30)
unit("天骄家政服务中心", "housekeeping", [C, S], ["svc.housekeeping"], capacity=20)
unit("东胜区家政服务协会", "housekeeping", [C, S, D], ["svc.housekeeping"], capacity=20)
unit("鄂尔多斯市颐和居家养老服务有限公司", "eldercare", [C, S, D],
     ["svc.eldercare", "svc.meal", "svc.housekeeping"], capacity=30)
unit("天骄小学", "school", [C], ["svc.tutoring"], capacity=10, rota=AFTER_SCHOOL)
unit("东胜区第二中学", "school", [C, S], ["svc.tutoring"], capacity=10, rota=AFTER_SCHOOL)
unit("鄂尔多斯应用技术学院青年志愿者协会", "volunteers", [C, S], ["svc.tutoring", "svc.psych"],
     capacity=20, rota=WEEKENDS)
unit("东胜区青少年活动中心", "education", [C, S, D], ["svc.tutoring"], capacity=15)
unit("鄂尔多斯人力资源服务有限公司", "employment", [C, S, D], ["svc.employment"], capacity=20)
unit("东胜区公证处", "notary", [C, S, D], ["svc.notary"], capacity=10)
unit("鄂尔多斯市中心医院", "hospital", [C, S, D], ["svc.health"], capacity=50)
unit("东胜区人民医院", "hospital", [C, S, D], ["svc.health", "svc.psych"], capacity=40)

# Utilities
unit("东胜区供水公司", "water", [C, S, D], ["infra.water_leak"], capacity=20)
unit("东胜区水务局", "government", [S, D], ["infra.water_leak"], capacity=10)
unit("国网东胜供电分公司", "power", [C, S, D], ["infra.power", "infra.streetlight"], capacity=20)
unit("东胜区路灯管理所", "streetlight", [C, S, D], ["infra.streetlight"], capacity=15)
unit("东胜区热力公司", "heating", [C, S, D], ["infra.heating"], capacity=25)
unit("东胜区天然气有限公司", "gas", [S, D], ["safety.gas_leak"], capacity=15)
unit("鄂尔多斯市城市燃气抢修中心", "gas", [S, D], ["safety.gas_leak"], capacity=15)
unit("东胜区市政工程管理处", "municipal", [C, S, D], ["infra.road", "infra.streetlight"],
     capacity=20)

# District bureaus, the last tier
unit("东胜区城市管理综合执法局", "city_management", [S, D],
     ["env.garbage", "env.sanitation", "env.noise", "infra.road",
      "property.illegal_construction"], capacity=30)
unit("东胜区环境卫生服务中心", "sanitation", [S, D], ["env.garbage", "env.sanitation"],
     capacity=40)
unit("鄂尔多斯市生态环境局东胜区分局", "government", [S, D], ["env.noise", "env.sanitation"],
     capacity=15)
unit("东胜区住房和城乡建设局", "government", [D],
     ["property.service", "property.illegal_construction", "infra.heating", "infra.road",
      "infra.power", "infra.water_leak"], capacity=20)
unit("东胜区公安分局", "police", [S, D],
     ["safety.public_order", "env.noise", "dispute.neighbour", "dispute.family",
      "safety.gas_leak"], capacity=50)
unit("东胜区消防救援大队", "fire", [S, D], ["safety.fire_hazard", "safety.gas_leak"],
     capacity=20)
unit("东胜区应急管理局", "government", [S, D], ["safety.gas_leak", "safety.fire_hazard"],
     capacity=10)
unit("东胜区司法局", "judicial", [D],
     ["dispute.neighbour", "dispute.family", "dispute.lending", "svc.legal"], capacity=20)
unit("东胜区法律援助中心", "legal_aid", [S, D], ["svc.legal", "dispute.lending", "dispute.family"],
     capacity=15)
unit("东胜区人民法院诉讼服务中心", "court", [D], ["dispute.lending", "dispute.family"],
     capacity=20)
unit("东胜区妇女联合会", "womens_federation", [S, D], ["dispute.family", "svc.psych"], capacity=10)
unit("东胜区民政局", "civil_affairs", [S, D], ["dispute.family", "svc.eldercare", "svc.meal"],
     capacity=20)
unit("东胜区信访局", "government", [D], ["dispute.neighbour", "property.service"], capacity=15)
unit("东胜区社会治理综合指挥中心", "government", [D],
     ["safety.public_order", "dispute.neighbour", "dispute.lending",
      "property.illegal_construction"], capacity=30)
unit("东胜区人力资源和社会保障局", "employment", [D], ["svc.employment"], capacity=20)
unit("东胜区卫生健康委员会", "health", [D], ["svc.health", "svc.psych", "svc.eldercare"],
     capacity=20)
unit("东胜区教育局", "education", [D], ["svc.tutoring"], capacity=15)
unit("鄂尔多斯市公证处", "notary", [S, D], ["svc.notary"], capacity=10)
unit("东胜区物业管理协会", "property", [S, D], ["property.service"], capacity=10)
unit("东胜区市场监督管理局", "government", [S, D], ["property.service", "svc.meal"],
     capacity=15)


def category(code, name, kind, start, limits, joint):
    out = {"code": code, "name": name, "kind": kind, "start_tier": start,
           "limits_minutes": limits, "joint_units": joint,
           "clock": "working" if code in WORKING_TIME else "wall",
           "reminder_fraction": REMINDER.get(code, 0.75)}
    if code in JOINT_BY_TIER:
        out["joint_by_tier"] = JOINT_BY_TIER[code]
    return out


# ---- geometry (schematic) ---------------------------------------------
# The street's place: Dongsheng District, Ordos, about 39.80 N, 110.00 E.
# The communities are laid out as a 4 x 2 block plan, each block cut into
# a 3 x 3 plan of grids (the last grid of a row widened to fill it); the
# buildings stand inside their grid. Schematic: plausible, not surveyed;
# the directory's "location" section says so.
GEO_ORIGIN = (109.985, 39.794)          # south-west corner (lon, lat)
GEO_BLOCK = (0.0075, 0.006)             # one community, degrees (~640 m x 670 m)
GEO_ROADS = ["天骄路", "鄂尔多斯西街", "伊煤南路", "达拉特南路",
             "宝日陶亥东街", "林荫北路", "铁西路", "准格尔南路"]
LOCATION = {
    "schematic": True,
    "note": "示意数据：网格边界与楼栋坐标按街道大致位置（东胜区，约北纬39.80°、东经110.00°）"
            "生成，仅供演示，非测绘成果 (schematic, not surveyed)",
    "nearest_building_m": 150,
    "duplicate_window_minutes": 1440,
}


def grid_cells(count):
    """A community's grids as cells (col, row, width) of a 3 x 3 plan,
    rows from the north; the last grid of the last row takes what is left."""
    cells = []
    for k in range(count):
        row, col = divmod(k, 3)
        cells.append([col, row, 1])
    last = cells[-1]
    last[2] = 3 - last[0]
    return cells


def add_geometry(doc):
    """Polygons for the grids, points and addresses for the buildings
    (their own random stream: the people stay as they were)."""
    geo = random.Random(39800110)
    doc["location"] = LOCATION
    grids = iter(doc["grids"])
    for n, (cid, _cname, count, _compounds) in enumerate(COMMUNITIES):
        bx = GEO_ORIGIN[0] + (n % 4) * GEO_BLOCK[0]
        by = GEO_ORIGIN[1] + (1 - n // 4) * GEO_BLOCK[1]
        cw, ch = GEO_BLOCK[0] / 3, GEO_BLOCK[1] / 3
        for col, row, width in grid_cells(count):
            grid = next(grids)
            assert grid["community"] == cid
            x0, y1 = bx + col * cw, by + GEO_BLOCK[1] - row * ch
            x1, y0 = x0 + width * cw, y1 - ch
            r = lambda v: round(v, 6)
            grid["polygon"] = [[r(x0), r(y0)], [r(x1), r(y0)], [r(x1), r(y1)],
                               [r(x0), r(y1)], [r(x0), r(y0)]]
            blds = grid["buildings"]
            for i, b in enumerate(blds):
                # rows of three, a margin of a fifth of the cell around them
                fx = 0.2 + 0.6 * ((i % 3) + geo.uniform(0.2, 0.8)) / 3
                fy = 0.2 + 0.6 * ((i // 3) + geo.uniform(0.2, 0.8)) / 2
                b["point"] = [round(x0 + fx * (x1 - x0), 6), round(y1 - fy * (y1 - y0), 6)]
                b["address"] = "鄂尔多斯市东胜区%s%d号%s" % (GEO_ROADS[n], 10 + 2 * geo.randrange(60),
                                                       b["name"])


def build():
    """The whole document, grids and buildings invented per community."""
    doc = {
        "version": 1,
        "street": {"id": "tianjiao", "code": "TJ", "name": "天骄街道", "district": "东胜区",
                   "city": "鄂尔多斯市", "utc_offset_minutes": 480},
        "communities": [{"id": c[0], "name": c[1]} for c in COMMUNITIES],
        "grids": [],
        "calendar": CALENDAR,
        "categories": [category(*c) for c in CATEGORIES],
        "units": units,
    }
    number = 0
    for cid, cname, count, compounds in COMMUNITIES:
        for k in range(count):
            number += 1
            gid = "G%02d" % number
            compound = compounds[k % len(compounds)]
            first = 1 + (k // len(compounds)) * 6
            buildings = [{"id": "B%02d%02d" % (number, b + 1),
                          "name": "%s%d号楼" % (compound, first + b),
                          "head": person()}
                         for b in range(rng.randint(2, 6))]
            doc["grids"].append({"id": gid, "name": "%s第%d网格" % (cname, k + 1),
                                 "community": cid, "worker": person(),
                                 "buildings": buildings})
    add_geometry(doc)
    return doc


def check(doc):
    """Every category, tier from its start up, grid: enough units, one always on duty."""
    grid_community = {g["id"]: g["community"] for g in doc["grids"]}

    def covers(u, gid):
        cov = u["coverage"]
        return cov == ALL or grid_community[gid] in cov.get("communities", []) \
            or gid in cov.get("grids", [])

    for cat in doc["categories"]:
        for tier in TIERS[TIERS.index(cat["start_tier"]):]:
            need = max(2, cat.get("joint_by_tier", {}).get(tier, cat["joint_units"]))
            for gid in grid_community:
                fit = [u for u in doc["units"] if tier in u["tiers"]
                       and cat["code"] in u["categories"] and covers(u, gid)]
                assert len(fit) >= need, (cat["code"], tier, gid, len(fit))
                assert any("rota" not in u for u in fit), (cat["code"], tier, gid)
    assert len(doc["grids"]) == 63
    assert len(doc["units"]) == 102, len(doc["units"])
    assert sum(c["kind"] == "service" for c in doc["categories"]) == 9


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "deploy/tianjiao/directory.json"
    doc = build()
    check(doc)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
