"""The words of the sample forms: the prose of an application material, exactly so many 字, and
the values an approval form is filled with (split from samples.py, which lays them out)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from typing import TYPE_CHECKING

from mailbot.documents.wordcount import count_words

if TYPE_CHECKING:
    from mailbot.demo.samples import StudioSample

MEMBERS = ("李明", "赵婷", "孙浩", "周静", "吴涛", "郑丽", "冯强", "何芳", "许斌")
DUTIES = ("统筹协调", "技术攻关", "成果转化", "人才培养", "项目管理", "设备维护")


def approval_values(studio: StudioSample) -> dict[str, str]:
    return {
        "工作室名称": studio.name,
        "所在单位": studio.unit,
        "领衔人姓名": studio.leader,
        "性别": studio.gender,
        "出生年月": studio.born,
        "政治面貌": studio.politics,
        "学历": studio.education,
        "职务/职称": studio.position,
        "荣誉称号": studio.honours,
        "联系电话": studio.phone,
        "电子邮箱": studio.email,
        "团队人数": str(studio.team_size),
        "活动场所": studio.venue,
        "工作室基本情况": (
            f"{studio.name}成立于2019年，依托{studio.unit}建设，现有成员{studio.team_size}人，"
            f"活动场所位于{studio.venue}，设备设施齐全，制度健全，运行良好。"
        ),
        "主要创新成果": studio.achievements + "。",
    }


def pools(studio: StudioSample) -> list[list[str]]:
    """Sentences per outline section: Han, full-width punctuation, some English and numbers.
    Each ends in full-width punctuation so appending one never merges two Latin runs."""
    achievement = studio.achievements.rstrip("。") + "。"
    return [
        [
            f"工作室成立于2019年，依托{studio.unit}建设，现有团队成员{studio.team_size}人。",
            f"活动场所位于{studio.venue}，面积约120平方米，配备3D打印机、数控加工中心等设备。",
            "团队老中青结合，组织机构健全，内部分工明确。",
        ],
        [
            f"领衔人{studio.leader}，{studio.position}，{studio.honours}，长期从事教学科研和技术服务。",
            "主持省部级以上项目6项，授权发明专利12项，发表SCI/EI论文20余篇。",
            "带领团队攻克多项关键技术难题，获得行业广泛认可。",
        ],
        [
            "工作室建立学习研究、技术攻关、成果转化、评估奖励、内部管理等制度，并张贴上墙。",
            "坚持每周例会，每月开展一次专题研讨，年度工作方案按计划组织实施。",
            "项目管理采用PDCA循环方法，确保各项任务落到实处。",
        ],
        [
            "每年开展技术培训10余场次，累计培训教职工和学生500余人次。",
            "实行“导师带徒”制度，签订师徒协议8对，3名徒弟获评技术能手。",
            "组织学生参加全国大学生智能制造大赛等技能竞赛，获一等奖2项。",
        ],
        [
            achievement,
            "近三年完成技术攻关课题15项，成果转化金额达300万元。",
            "自主研发的在线检测系统已在深圳多家企业推广应用，效益显著。",
        ],
        [
            "工作室积极发挥示范引领作用，接待校内外参观交流30余次。",
            "与深圳市多家企业共建实践基地，推动产教融合、校企合作。",
            "相关经验做法被《深圳特区报》等媒体报道。",
        ],
        [
            f"{studio.unit}每年安排专项经费20万元，保障工作室日常运行。",
            "校工会给予配套支持，经费使用规范，专款专用。",
        ],
        [
            "下一步，工作室将围绕学校“十四五”发展规划，进一步完善制度建设。",
            "计划每年培养青年骨干5名以上，力争2025年前建成省级创新工作室。",
            "持续加强与行业企业合作，推动更多创新成果落地转化。",
        ],
    ]


FILL = "持续完善工作机制不断提升创新能力和服务水平"


def prose(budget: int, sentences: Sequence[str], lead: str = "") -> str:
    """A paragraph of exactly `budget` 字: `lead` once, then whole sentences while they fit,
    then Han filler to the exact count."""
    text = lead if count_words(lead) <= budget else ""
    for sentence in cycle(sentences):
        left = budget - count_words(text + sentence)
        if left < 0 or left == 1:  # a remainder of 1 would end the paragraph in "。。"
            break
        text += sentence
    left = budget - count_words(text)
    if left >= 2:
        text += (FILL * (left // len(FILL) + 1))[: left - 1] + "。"
    elif left == 1:
        text += "。"
    return text
