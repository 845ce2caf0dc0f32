//! Wrongly typed fields: for every field each decoder reads, every wrong JSON
//! type, and every required field missing (422 naming the dotted path).

use super::*;

// ---------------------------------------------------------------------------
// Wrongly typed (the field lists are those the decoders read)
// ---------------------------------------------------------------------------

pub(super) fn typed_lever() -> Vec<Case> {
    let mut cases = typed(
        "all events",
        &lever_event("candidateStageChange"),
        "",
        &[("event", Kind::ReqStr)],
        &lever_422,
    );
    for event in LEVER_OPPORTUNITY_EVENTS {
        let base = lever_event(event);
        cases.extend(typed(
            event,
            &base,
            "",
            &[("data", Kind::Obj), ("data/opportunityId", Kind::ReqId)],
            &lever_422,
        ));
        for (how, data) in [("data null", Some(Value::Null)), ("no data", None)] {
            cases.push(lever_422(
                format!("{event}: {how}"),
                edited(&base, "/data", data),
                "data.opportunityId: missing".into(),
            ));
        }
    }
    cases
}

pub(super) fn typed_careers() -> Vec<Case> {
    let submitted = careers_submitted();
    let mut cases = typed(
        "application.submitted",
        &submitted,
        "",
        &[
            ("type", Kind::ReqStr),
            ("submission_id", Kind::ReqId),
            ("submitted_at", Kind::ReqTime),
            ("job", Kind::Obj),
            ("job/ats_job_id", Kind::ReqId),
            ("job/ats", Kind::Str),
            ("job/location", Kind::Str),
            ("applicant", Kind::Obj),
            ("applicant/email", Kind::Str),
            ("applicant/phone", Kind::Str),
            ("applicant/phone_country_hint", Kind::Str),
            ("applicant/first_name", Kind::Str),
            ("applicant/last_name", Kind::Str),
            ("tracking", Kind::Obj),
            ("tracking/ref", Kind::Str),
        ],
        &careers_422,
    );
    let no_contact = "applicant.email: missing, and so is applicant.phone";
    for (what, v, detail) in [
        (
            "job null",
            edited(&submitted, "/job", Some(Value::Null)),
            "job.ats_job_id: missing",
        ),
        (
            "no job",
            edited(&submitted, "/job", None),
            "job.ats_job_id: missing",
        ),
        (
            "no applicant",
            edited(&submitted, "/applicant", None),
            no_contact,
        ),
        (
            "applicant null",
            edited(&submitted, "/applicant", Some(Value::Null)),
            no_contact,
        ),
        (
            "neither email nor phone",
            edited(
                &edited(&submitted, "/applicant/email", None),
                "/applicant/phone",
                None,
            ),
            no_contact,
        ),
        (
            "a blank email and a blank phone",
            edited(
                &edited(&submitted, "/applicant/email", Some(json!("  "))),
                "/applicant/phone",
                Some(json!("")),
            ),
            no_contact,
        ),
    ] {
        cases.push(careers_422(
            format!("application.submitted: {what}"),
            v,
            detail.into(),
        ));
    }
    let changed = careers_status_changed();
    cases.extend(typed(
        "application.status_changed",
        &changed,
        "",
        &[
            ("application", Kind::Obj),
            ("application/start_date", Kind::Str),
            ("application/status", Kind::Str),
            ("application/ats", Kind::Str),
            ("application/id", Kind::ReqId),
            ("application/candidate_id", Kind::Id),
            ("application/job_id", Kind::Id),
            ("application/stage", Kind::Str),
        ],
        &careers_422,
    ));
    for (what, v, detail) in [
        (
            "no application",
            edited(&changed, "/application", None),
            "application.id: missing",
        ),
        (
            "start_date not a date",
            edited(&changed, "/application/start_date", Some(json!("soon"))),
            "application.start_date: ",
        ),
        (
            "start_date month 13",
            edited(
                &changed,
                "/application/start_date",
                Some(json!("2026-13-01")),
            ),
            "application.start_date: ",
        ),
        (
            "status unknown",
            edited(&changed, "/application/status", Some(json!("promoted"))),
            "application.status: ",
        ),
        (
            "status in capitals",
            edited(&changed, "/application/status", Some(json!("HIRED"))),
            "application.status: ",
        ),
    ] {
        cases.push(careers_422(
            format!("application.status_changed: {what}"),
            v,
            detail.into(),
        ));
    }
    cases
}

pub(super) fn typed_greenhouse() -> Vec<Case> {
    let mut cases = Vec::new();
    let app = gh_application("new_candidate_application");
    cases.extend(typed(
        "new_candidate_application",
        &app,
        "",
        &[("action", Kind::ReqStr), ("payload", Kind::Obj)],
        &greenhouse_422,
    ));
    cases.extend(typed(
        "new_candidate_application",
        &app,
        "/payload/application",
        &[
            ("", Kind::Obj),
            ("id", Kind::ReqId),
            ("jobs", Kind::Arr),
            ("jobs/0", Kind::Elem),
            ("jobs/0/id", Kind::ReqId),
            ("candidate", Kind::Obj),
            ("custom_fields", Kind::MapOrEmpty),
            ("custom_fields/referral_token", Kind::Obj),
            ("custom_fields/referral_token/value", Kind::Str),
            ("candidate/id", Kind::Id),
            ("jobs/0/requisition_id", Kind::Id),
            ("candidate/email_addresses", Kind::Arr),
            ("candidate/email_addresses/0", Kind::Elem),
            ("candidate/email_addresses/0/value", Kind::Str),
            ("candidate/email_addresses/0/type", Kind::Str),
            ("candidate/phone_numbers", Kind::Arr),
            ("candidate/phone_numbers/0", Kind::Elem),
            ("candidate/phone_numbers/0/value", Kind::Str),
            ("candidate/phone_numbers/0/type", Kind::Str),
            ("candidate/first_name", Kind::Str),
            ("candidate/last_name", Kind::Str),
            ("credited_to", Kind::Obj),
            ("credited_to/employee_id", Kind::Id),
            ("prospect", Kind::Bool),
            ("applied_at", Kind::ReqTime),
            ("status", Kind::Str),
            ("current_stage", Kind::Obj),
            ("current_stage/name", Kind::Str),
            ("jobs/0/departments", Kind::Arr),
            ("jobs/0/departments/0", Kind::Elem),
            ("jobs/0/departments/0/name", Kind::Str),
            ("jobs/0/offices", Kind::Arr),
            ("jobs/0/offices/0", Kind::Elem),
            ("jobs/0/offices/0/name", Kind::Str),
        ],
        &greenhouse_422,
    ));
    for (what, v, detail) in [
        (
            "no payload",
            edited(&app, "/payload", None),
            "payload.application.id: missing",
        ),
        (
            "payload null",
            edited(&app, "/payload", Some(Value::Null)),
            "payload.application.id: missing",
        ),
        (
            "no application",
            edited(&app, "/payload/application", None),
            "payload.application.id: missing",
        ),
        (
            "an empty payload",
            edited(&app, "/payload", Some(json!({}))),
            "payload.application.id: missing",
        ),
    ] {
        cases.push(greenhouse_422(
            format!("new_candidate_application: {what}"),
            v,
            detail.into(),
        ));
    }
    // Read only when the application carries no token: the candidate's.
    let candidate_token = edited(&app, "/payload/application/custom_fields", None);
    cases.extend(typed(
        "(token on the candidate)",
        &candidate_token,
        "/payload/application/candidate",
        &[
            ("custom_fields", Kind::MapOrEmpty),
            ("custom_fields/referral_token", Kind::Obj),
            ("custom_fields/referral_token/value", Kind::Str),
        ],
        &greenhouse_422,
    ));
    // Read only when `candidate.id` is absent: the flat `candidate_id`.
    let flat = edited(&app, "/payload/application/candidate/id", None);
    cases.extend(typed(
        "(flat candidate_id)",
        &flat,
        "/payload/application",
        &[("candidate_id", Kind::Id)],
        &greenhouse_422,
    ));
    // Read only when `jobs` is empty: the deprecated `job`.
    let deprecated = edited(
        &edited(&app, "/payload/application/jobs", Some(json!([]))),
        "/payload/application/job",
        Some(json!({ "id": 4_012_345, "requisition_id": "REQ-1" })),
    );
    cases.extend(typed(
        "(deprecated job)",
        &deprecated,
        "/payload/application",
        &[
            ("job", Kind::Obj),
            ("job/id", Kind::ReqId),
            ("job/requisition_id", Kind::Id),
        ],
        &greenhouse_422,
    ));
    for action in ["new_prospect_application", "application_updated"] {
        cases.extend(typed(
            action,
            &gh_application(action),
            "/payload/application",
            &[("id", Kind::ReqId), ("applied_at", Kind::ReqTime)],
            &greenhouse_422,
        ));
    }

    let stage_fields: [(&str, Kind); 11] = [
        ("id", Kind::ReqId),
        ("candidate", Kind::Obj),
        ("offer", Kind::Obj),
        ("candidate/id", Kind::Id),
        ("jobs", Kind::Arr),
        ("jobs/0", Kind::Elem),
        ("jobs/0/id", Kind::Id),
        ("current_stage", Kind::Obj),
        ("current_stage/name", Kind::Str),
        ("status", Kind::Str),
        ("offer/starts_at", Kind::Str),
    ];
    cases.extend(typed(
        "candidate_stage_change",
        &gh_stage_change("candidate_stage_change"),
        "/payload/application",
        &stage_fields,
        &greenhouse_422,
    ));
    cases.extend(typed(
        "candidate_stage_change (flat candidate_id)",
        &edited(
            &gh_stage_change("candidate_stage_change"),
            "/payload/application/candidate/id",
            None,
        ),
        "/payload/application",
        &[("candidate_id", Kind::Id)],
        &greenhouse_422,
    ));
    for action in [
        "hire_candidate",
        "unhire_candidate",
        "reject_candidate",
        "unreject_candidate",
    ] {
        cases.extend(typed(
            action,
            &gh_stage_change(action),
            "/payload/application",
            &[
                ("id", Kind::ReqId),
                ("offer", Kind::Obj),
                ("offer/starts_at", Kind::Str),
            ],
            &greenhouse_422,
        ));
    }

    let offer_fields: [(&str, Kind); 4] = [
        ("start_date", Kind::Str),
        ("application_id", Kind::ReqId),
        ("candidate_id", Kind::Id),
        ("job_id", Kind::Id),
    ];
    cases.extend(typed(
        "offer_created",
        &gh_offer("offer_created"),
        "/payload",
        &[("offer", Kind::Obj)],
        &greenhouse_422,
    ));
    cases.extend(typed(
        "offer_created",
        &gh_offer("offer_created"),
        "/payload",
        &offer_fields,
        &greenhouse_422,
    ));
    cases.extend(typed(
        "offer_created (starts_at)",
        &edited(&gh_offer("offer_created"), "/payload/start_date", None),
        "/payload",
        &[("starts_at", Kind::Str)],
        &greenhouse_422,
    ));
    cases.extend(typed(
        "offer_created (nested)",
        &gh_offer_nested("offer_created"),
        "/payload/offer",
        &offer_fields,
        &greenhouse_422,
    ));
    for action in ["offer_updated", "offer_deleted"] {
        cases.extend(typed(
            action,
            &gh_offer(action),
            "/payload",
            &[("application_id", Kind::ReqId), ("start_date", Kind::Str)],
            &greenhouse_422,
        ));
    }

    let merge = gh_merge();
    cases.extend(typed(
        "merge_candidate",
        &merge,
        "/payload/person",
        &[
            ("", Kind::Obj),
            ("id", Kind::ReqId),
            ("new_candidate_id", Kind::ReqId),
        ],
        &greenhouse_422,
    ));
    cases.push(greenhouse_422(
        "merge_candidate: no person".into(),
        edited(&merge, "/payload/person", None),
        "payload.person.id: missing".into(),
    ));
    cases.extend(typed(
        "delete_application",
        &gh_delete(),
        "/payload/application",
        &[
            ("", Kind::Obj),
            ("id", Kind::ReqId),
            ("candidate_id", Kind::Id),
            ("job_id", Kind::Id),
        ],
        &greenhouse_422,
    ));
    cases.extend(typed(
        "candidate_anonymized",
        &gh_anonymized(),
        "/payload",
        &[("candidate_id", Kind::ReqId)],
        &greenhouse_422,
    ));
    cases
}

pub(super) fn wrongly_typed() -> Vec<Case> {
    // Lever first: its triggeredAt must stay within the 60 s max age.
    let mut cases = typed_lever();
    cases.extend(typed_careers());
    cases.extend(typed_greenhouse());
    cases
}
