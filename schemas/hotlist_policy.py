"""What a hotlist may be matched against, and what a jurisdiction's law excludes
(Minn. Stat. 13.824 subd. 2(c)).

Every load declares its source (``HotlistSourceKind``):

    state_file      the state's own file (Minnesota: the BCA's licence plate data file)
    ncic            an NCIC extract, each entry from a named NCIC file (``NcicFile``),
                    given for the whole load or per entry
    investigation   an agency's list tied to an active criminal investigation: a case
                    number is required

Anything else is refused. A jurisdiction's policy (``JurisdictionPolicy``, from the
settings, keyed by a state's two letters or by one agency's ORI) may exclude NCIC files
(several states bar the immigration violator file) and purposes its law bars; an
excluded entry is dropped when loaded (and counted), and a matcher never indexes one
found on the topic (say, loaded before the policy changed). The same policy may name
receiving jurisdictions (ORI prefixes: a state's two letters, or longer) that agencies
under it never share with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from schemas.records import HotlistCategory, HotlistEntry


class HotlistSourceKind(StrEnum):
    STATE_FILE = "state_file"
    NCIC = "ncic"
    INVESTIGATION = "investigation"


class NcicFile(StrEnum):
    """The NCIC files a plate-reader extract may hold."""

    VEHICLE = "vehicle"
    LICENSE_PLATE = "license_plate"
    WANTED_PERSON = "wanted_person"
    MISSING_PERSON = "missing_person"
    PROTECTION_ORDER = "protection_order"
    IMMIGRATION_VIOLATOR = "immigration_violator"
    SEX_OFFENDER = "sex_offender"
    SUPERVISED_RELEASE = "supervised_release"
    GANG = "gang"
    KNOWN_OR_SUSPECTED_TERRORIST = "known_or_suspected_terrorist"
    VIOLENT_PERSON = "violent_person"


class ListPurpose(StrEnum):
    """What a list's entries are for: what a state may bar and an agreement exclude."""

    CRIMINAL_INVESTIGATION = "criminal_investigation"
    STOLEN_VEHICLE = "stolen_vehicle"
    WANTED_PERSON = "wanted_person"
    MISSING_PERSON = "missing_person"
    AMBER_ALERT = "amber_alert"
    PROTECTION_ORDER = "protection_order"
    OFFENDER_SUPERVISION = "offender_supervision"
    IMMIGRATION_ENFORCEMENT = "immigration_enforcement"
    REPRODUCTIVE_HEALTH_CARE = "reproductive_health_care"
    PROTECTED_ASSEMBLY = "protected_assembly"


NCIC_FILE_PURPOSE: dict[NcicFile, ListPurpose] = {
    NcicFile.VEHICLE: ListPurpose.STOLEN_VEHICLE,
    NcicFile.LICENSE_PLATE: ListPurpose.STOLEN_VEHICLE,
    NcicFile.WANTED_PERSON: ListPurpose.WANTED_PERSON,
    NcicFile.MISSING_PERSON: ListPurpose.MISSING_PERSON,
    NcicFile.PROTECTION_ORDER: ListPurpose.PROTECTION_ORDER,
    NcicFile.IMMIGRATION_VIOLATOR: ListPurpose.IMMIGRATION_ENFORCEMENT,
    NcicFile.SEX_OFFENDER: ListPurpose.OFFENDER_SUPERVISION,
    NcicFile.SUPERVISED_RELEASE: ListPurpose.OFFENDER_SUPERVISION,
    NcicFile.GANG: ListPurpose.CRIMINAL_INVESTIGATION,
    NcicFile.KNOWN_OR_SUSPECTED_TERRORIST: ListPurpose.CRIMINAL_INVESTIGATION,
    NcicFile.VIOLENT_PERSON: ListPurpose.CRIMINAL_INVESTIGATION,
}
CATEGORY_PURPOSE: dict[HotlistCategory, ListPurpose] = {
    HotlistCategory.STOLEN_VEHICLE: ListPurpose.STOLEN_VEHICLE,
    HotlistCategory.STOLEN_PLATE: ListPurpose.STOLEN_VEHICLE,
    HotlistCategory.WANTED_PERSON: ListPurpose.WANTED_PERSON,
    HotlistCategory.MISSING_PERSON: ListPurpose.MISSING_PERSON,
    HotlistCategory.AMBER_ALERT: ListPurpose.AMBER_ALERT,
    HotlistCategory.PROTECTION_ORDER: ListPurpose.PROTECTION_ORDER,
    HotlistCategory.CUSTOM: ListPurpose.CRIMINAL_INVESTIGATION,
}


def entry_purpose(entry: HotlistEntry) -> ListPurpose:
    """The entry's declared purpose, else its NCIC file's, else its category's."""
    if entry.purpose is not None:
        return ListPurpose(entry.purpose)
    if entry.ncic_file is not None:
        return NCIC_FILE_PURPOSE[NcicFile(entry.ncic_file)]
    return CATEGORY_PURPOSE[entry.category]


def jurisdiction_of(agency_ori: str) -> str:
    """An agency's state: the ORI's first two letters."""
    return agency_ori[:2]


@dataclass(frozen=True)
class JurisdictionPolicy:
    """What a state's law (or one agency's own rule) excludes."""

    excluded_ncic_files: frozenset[NcicFile] = frozenset()
    barred_purposes: frozenset[ListPurpose] = frozenset()
    excluded_recipients: frozenset[str] = frozenset()  # ORI prefixes never shared with

    def merged(self, other: JurisdictionPolicy) -> JurisdictionPolicy:
        return JurisdictionPolicy(
            self.excluded_ncic_files | other.excluded_ncic_files,
            self.barred_purposes | other.barred_purposes,
            self.excluded_recipients | other.excluded_recipients,
        )

    def exclusion(self, entry: HotlistEntry) -> str | None:
        """Why the entry may not be matched under this policy, or None."""
        if entry.ncic_file is not None and entry.ncic_file in self.excluded_ncic_files:
            return f"NCIC file {entry.ncic_file} excluded"
        purpose = entry_purpose(entry)
        if purpose in self.barred_purposes:
            return f"purpose {purpose.value} barred"
        return None

    def bars_recipient(self, recipient_ori: str) -> bool:
        return any(recipient_ori.startswith(prefix) for prefix in self.excluded_recipients)


def policy_for(policies: Mapping[str, JurisdictionPolicy], agency_ori: str) -> JurisdictionPolicy:
    """The agency's state's policy, with the agency's own added."""
    found = JurisdictionPolicy()
    for key in (jurisdiction_of(agency_ori), agency_ori):
        if key in policies:
            found = found.merged(policies[key])
    return found


def excluded_entry(policies: Mapping[str, JurisdictionPolicy], entry: HotlistEntry) -> str | None:
    """Why the owning agency's policy keeps ``entry`` out of matching, or None."""
    if not policies:
        return None
    return policy_for(policies, entry.owning_agency_ori).exclusion(entry)


def split_by_policy(
    policies: Mapping[str, JurisdictionPolicy], entries: Iterable[HotlistEntry]
) -> tuple[list[HotlistEntry], dict[str, int]]:
    """The entries the policy admits, and how many were dropped for each reason."""
    kept: list[HotlistEntry] = []
    dropped: dict[str, int] = {}
    for entry in entries:
        reason = excluded_entry(policies, entry)
        if reason is None:
            kept.append(entry)
        else:
            dropped[reason] = dropped.get(reason, 0) + 1
    return kept, dropped
