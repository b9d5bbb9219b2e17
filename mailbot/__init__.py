"""mailbot: an e-mail intake bot for calls for applications.

Applicants e-mail their forms; mailbot reads the submission mailbox, recognises and checks each
document, keeps the consolidated workbook (汇总表.xlsx) and answers every applicant.
"""

__version__ = "0.1.0"
