"""Classification of real Windows texts, copied verbatim from Microsoft's troubleshooting article.

Source of every text below unless a test says otherwise: "Troubleshoot live migration issues"
(KB 4558514), https://learn.microsoft.com/troubleshoot/windows-server/virtualization/troubleshoot-live-migration-issues
"""

from __future__ import annotations

import pytest

from lmdoctor.services.domain import events

KB = "https://learn.microsoft.com/troubleshoot/windows-server/virtualization/troubleshoot-live-migration-issues"

# Event 21502, section "Failed to establish a connection with host "DESTINATION-SERVER": The credentials
# supplied to the package were not recognized (0x8009030D)": the HRESULT line, then VMMS's generic paragraph.
EVENT_21502_0X8009030D = (
    "Virtual machine migration Operation failed at migration source.\n\n"
    "Failed to establish a connection with host \"DESTINATION-SERVER\": The credentials supplied to the package "
    "were not recognized (0x8009030D).\n\n"
    " The Virtual Machine Management Service failed to authenticate the connection for a virtual machine "
    "migration at the source host: no suitable credentials available. Make sure the operation is initiated on the "
    "source host of the migration, or the source host is configured to use Kerberos for the authentication of "
    "migration connections and constrained delegation is enabled for the host in active directory.")

# Event 21502, section "Failed to get the network address for the destination node "Host2"".
EVENT_21502_CLUSTER_NETWORK = (
    "Live migration of \"VM\" failed.\n\n"
    "Failed to get the network address for the destination node \"Host2\": A cluster Network isn't available for "
    "this operation. (0x000013AB).")

# Event 21502, section "Live migration failed with error code (0x8007271D)".
EVENT_21502_WSAEACCES = "Live migration fails With (0x8007271D)."

# Event 21502, section "Live migration failed because the action "Move" didn't complete".
EVENT_21502_NOT_OWNER = ("The action \"Move\" didn't complete.\n\nError Code: 0x80071398\n\nThe operation failed "
                         "because either the specified cluster node isn't the owner of the group, or the node isn't "
                         "a possible owner of the group.")

# Event 21502, section "Failed to restore with Error "A virtual disk support provider …" (0xC03A0014)".
EVENT_21502_VIRTDISK = (
    "\"VM\" Synthetic SCSI Controller: Failed to restore with Error \"A virtual disk support provider for the "
    "specified file was not found.\" (0xC03A0014).")

# Event 20413, section "Event ID 20413": the destination's VMMS text under a milestone id.
EVENT_20413_FAILURE = ("The Virtual Machine Management Service failed to register the configuration for the virtual "
                       "machine \"\\<vmID>\" at \"\\<localpath>\": The system cannot find the path.")

# Event 20417, section "Event ID 20417": a completed move (a milestone, even with a long blackout).
EVENT_20417_COMPLETED = ("The Virtual Machine Management service successfully completed the live migration of "
                         "virtual machine \"VM\" with an unexpectedly long blackout time of 63.1 seconds.")

# Section "Failed to create partition …": the destination's Hyper-V-Worker text.
WORKER_OUT_OF_RESOURCES = ("Failed to create partition: Insufficient system resources exist to complete the "
                           "requested service. (0x800705AA)")


def test_an_hresult_outranks_the_generic_no_credentials_paragraph():
    """0x8009030D (SEC_E_UNKNOWN_CREDENTIALS) is the CredSSP/Kerberos mismatch, whatever VMMS adds after it."""
    assert events.classify(EVENT_21502_0X8009030D, 21502, "Error") == "auth-mismatch-or-wrong-object"


@pytest.mark.parametrize("text,cause", [
    (EVENT_21502_CLUSTER_NETWORK, "cluster"),  # 0x13ab 5035 ERROR_NETWORK_NOT_AVAILABLE (the article's lookup)
    (EVENT_21502_WSAEACCES, "network"),  # 0x271d 10013 WSAEACCES: firewall / port 6600, 3343
    (EVENT_21502_NOT_OWNER, "cluster"),  # 0x1398 5016 ERROR_HOST_NODE_NOT_GROUP_OWNER
    (WORKER_OUT_OF_RESOURCES, "resources"),  # 0x5aa 1450 ERROR_NO_SYSTEM_RESOURCES
])
def test_codes_outside_the_table_are_classified_by_their_family(text, cause):
    assert events.classify(text, 21502, "Error") == cause
    assert events.describe(cause) != "Unclassified"


def test_an_unknown_code_is_named_in_the_cause():
    cause = events.classify(EVENT_21502_VIRTDISK, 21502, "Error")
    assert cause == "unrecognised:0xc03a0014"
    assert "0xc03a0014" in events.describe(cause) and "certutil -error 0xc03a0014" in events.describe(cause)


def test_a_milestone_id_reporting_a_failure_is_classified_on_its_text():
    cause = events.classify(EVENT_20413_FAILURE, 20413, "Error")
    assert cause == "storage-path"  # "cannot find the path": nodes with different system drive letters
    assert events.classify(EVENT_20413_FAILURE, 20413, None) == "storage-path"  # the wording alone says so too


def test_a_milestone_id_at_error_level_is_no_lifecycle_event_even_with_neutral_wording():
    assert events.classify("Virtual machine migration of 'APP01' started.", 20415, "Error") is None
    assert events.classify("Virtual machine migration of 'APP01' started.", 20415, "Information") \
        == "migration-lifecycle"


def test_a_completed_move_stays_a_lifecycle_event():
    assert events.classify(EVENT_20417_COMPLETED, 20417, "Information") == "migration-lifecycle"


def test_e_fail_names_no_cause():
    assert events.classify("Migration failed with 0x80004005.") is None


def test_check_json_lists_each_nodes_failure_events_with_their_classification():
    from datetime import datetime, timezone  # noqa: PLC0415

    from lmdoctor.services.domain.models import HostEvent, HostReport, NodeSnapshot  # noqa: PLC0415
    from lmdoctor.services.domain.summary import event_rows  # noqa: PLC0415

    when = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    log = "Microsoft-Windows-Hyper-V-High-Availability-Admin"
    reported = (HostEvent(time=when, event_id=21502, level="Error", log=log, message=EVENT_21502_0X8009030D,
                          cause=events.classify(EVENT_21502_0X8009030D, 21502, "Error")),
                HostEvent(time=when, event_id=20417, level="Information", log=log, message=EVENT_20417_COMPLETED,
                          cause="migration-lifecycle"))
    node = NodeSnapshot(name="HV01", fqdn="HV01.contoso.local", host=HostReport(name="HV01", events=reported))
    (row,) = event_rows(node)  # errors and warnings only
    assert (row["id"], row["cause"]) == (21502, "auth-mismatch-or-wrong-object")
    assert row["likely_cause"] == events.describe("auth-mismatch-or-wrong-object")
    assert row["message"] == EVENT_21502_0X8009030D
