"""What the office and the applicants receive: replies, outbox, workbook, reports."""
