"""Consortium governance: the decisions register and member surveys.

It lives inside the procurement service, as its own sub-package, because what it governs is
procurement's: a decision approves a need round, a tender's publication, the procurement
decision or an agreement's renewal, and a survey's binding answer ("we opt in for the next
period") becomes a participation in an agreement that procurement owns. DESIGN.md fixes the
set of services, and keeping the decision and the participation it causes in one database
lets the survey's close and the opt-ins commit in one transaction.

Modules: ``domain`` (pure rules), ``store`` (SQL), ``commands`` (transactions and events),
``api`` (the HTTP router), ``jobs`` (scheduled opening, reminding and closing of surveys).
"""
