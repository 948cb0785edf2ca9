"""The biennial audit's export (13.824 subd. 6) for an auditor of the agency: collection,
classification and destruction, every access, the sharing log, agreement changes and
flags (``pipelines/services/audit_report.py``). Making it reads the audit trail, so it
is audited first, with the auditor's login; another agency's export is refused (audited).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from pipelines.api.deps import Services, allowed
from schemas.errors import ConfigurationError
from schemas.people import Permission, Principal

router = APIRouter()

Auditor = Annotated[Principal, Depends(allowed(Permission.READ_AUDIT))]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
# Two years and a day: the audit is biennial.
MAX_REPORT_DAYS = 732


class AuditReportRequest(BaseModel):
    agency_ori: Annotated[str, Field(pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")]
    from_day: Day
    to_day: Day
    repeat_threshold: Annotated[int, Field(ge=2, le=10_000)] = 5
    work_start_hour: Annotated[int, Field(ge=0, le=23)] = 7
    work_end_hour: Annotated[int, Field(ge=0, le=24)] = 19
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "America/Chicago"

    @model_validator(mode="after")
    def _checked(self) -> AuditReportRequest:
        try:
            first, last = date.fromisoformat(self.from_day), date.fromisoformat(self.to_day)
        except ValueError as error:
            raise ValueError(f"from_day and to_day are YYYY-MM-DD days: {error}") from None
        if not 0 <= (last - first).days < MAX_REPORT_DAYS:
            raise ValueError(f"from_day..to_day: up to {MAX_REPORT_DAYS} days, from first")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder name: IsADirectoryError
            raise ValueError(f"no time zone {self.timezone!r} (e.g. America/Chicago)") from None
        return self


@router.post("/v1/audit/report", tags=["audit"])
def audit_report(body: AuditReportRequest, principal: Auditor, api: Services) -> dict[str, Any]:
    """The agency's audit export for the period, as sections of flat rows (audited)."""
    from pipelines.services import audit_report as export
    from pipelines.services.scope import PersonAccess

    if api.chain is None or api.usage is None:
        raise ConfigurationError("this API has no audit trail or usage counters")
    period = f"{body.from_day}..{body.to_day}"
    access = PersonAccess(api.trail, principal, "audit", f"report {body.agency_ori} {period}",
                          None, {"query": "biennial audit export"})  # fmt: skip
    if body.agency_ori != principal.agency_ori:
        raise access.deny(f"{principal.username} may export the audit of "
                          f"{principal.agency_ori} only, not {body.agency_ori}")  # fmt: skip
    access.open(justified=False)
    rules = export.ReportRules(body.repeat_threshold, body.work_start_hour, body.work_end_hour,
                               body.timezone)  # fmt: skip
    report = export.build(
        api.chain, api.usage, api.holds, body.agency_ori, body.from_day, body.to_day,
        api.settings.retention_for(body.agency_ori), rules, principal.username,
    )  # fmt: skip
    access.shown([], len(report.accesses))
    return export.as_rows(report)
