"""The simulated calendar: the days events happen on, and members per message."""

# Members per message: the worker drafts and appends a batch in one pass.
BATCH = 10_000
PAY_DAY, AGENCY_DAY, BANK_DAY, BACK_PAY_DAY, RESIDENT_DAY = 15, 20, 25, 28, 15
# Pensions are paid on the 10th; the month's retirements are awarded, and its deaths
# recorded, on the 28th (after the month's payments).
PENSION_DAY, AWARD_DAY, DEATH_DAY = 10, 28, 28
