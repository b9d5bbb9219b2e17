"""What a mail's technical parts are called on the dashboard, in the office's words.

A MIME type (application/vnd.openxmlformats-officedocument.wordprocessingml.document) means
nothing to a clerk; "Word 文档" does. A sender's Date header (Sun, 09 Oct 2022 10:00:00 +0800)
is shown in office time, like every other time on the dashboard (CONTRACT.md "Time").
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from mailbot.timefmt import show

_BY_TYPE = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档",
    "application/msword": "Word 文档（旧格式）",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格",
    "application/vnd.ms-excel": "Excel 表格（旧格式）",
    "application/pdf": "PDF 文件",
    "application/zip": "压缩包",
    "application/x-zip-compressed": "压缩包",
    "application/x-rar-compressed": "压缩包",
    "application/vnd.rar": "压缩包",
    "application/x-7z-compressed": "压缩包",
    "application/ms-tnef": "Outlook 附件包（winmail.dat）",
    "message/rfc822": "转发的邮件",
    "text/plain": "文本",
    "text/html": "网页",
}
_BY_MAJOR = {"image": "图片", "audio": "音频", "video": "视频", "text": "文本"}
_BY_SUFFIX = {"docx": "Word 文档", "doc": "Word 文档（旧格式）", "wps": "WPS 文档",
              "xlsx": "Excel 表格", "xls": "Excel 表格（旧格式）", "et": "WPS 表格",
              "pdf": "PDF 文件", "zip": "压缩包", "rar": "压缩包", "7z": "压缩包"}


def file_type(content_type: str, filename: str = "") -> str:
    """"Word 文档", "压缩包", "图片"… — by the declared type, else by the name's suffix."""
    content_type = content_type.lower()
    if content_type in _BY_TYPE:
        return _BY_TYPE[content_type]
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    return _BY_MAJOR.get(content_type.split("/", 1)[0], "其他文件")


def header_value(name: str, value: str) -> str:
    """A header as shown: Date in office time (the raw text when it cannot be read)."""
    if name.lower() == "date":
        try:
            return show(parsedate_to_datetime(value))
        except (TypeError, ValueError, IndexError):
            return value
    return value
