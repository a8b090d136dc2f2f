//! Three-party consultation (三方协调议事): parties, agenda, meetings, actions, results.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::consult::{
    AttachTickets, Candidate, CandidateQuery, CompanyFilter, CompanyView, EvaluationDesk, EvaluationQuery, EvaluationView, ItemFilter,
    ItemView, MeetingChanges, MeetingLine, MeetingView, NewCompany, NewEvaluation, NewItem, NewMeeting, NewNote, Outcome, PartiesInput,
    PartiesView, ResultsQuery, ResultsView,
};
use crate::app::{self, utc_now};
use crate::domain::consult::ItemState;
use crate::domain::{ConsultItemId, MeetingId, OrgUnitId, PropertyCompanyId};
use crate::http::context::{etag, run, run_idempotent, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

/// Property companies (物业服务企业), by name; `q` finds a name or a credit code.
#[utoipa::path(get, path = "/api/v1/property-companies", operation_id = "list_property_companies", tag = "consultation", params(CompanyFilter),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<CompanyView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_companies(state: web::Data<AppState>, auth: Auth, q: web::Query<CompanyFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::consult::list_companies(c, &actor, q.into_inner())).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The running action items past their deadline (督办) in the compounds the caller may read the
/// consultation of, the longest overdue first: a community's staff, a supervisor's street or
/// district, a branch or a party of its own compound.
#[utoipa::path(get, path = "/api/v1/consultation/overdue-actions", operation_id = "list_overdue_actions", tag = "consultation",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<app::consult::OverdueAction>), (status = 403, body = ErrorBody)))]
pub async fn overdue_actions(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::consult::overdue_actions(c, &actor, utc_now())).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Registers a property company by its unified social credit code (once: a second registration
/// of the same code is 409 `credit_code_taken`).
#[utoipa::path(post, path = "/api/v1/property-companies", operation_id = "create_property_company", tag = "consultation", request_body = NewCompany,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = CompanyView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_company(state: web::Data<AppState>, auth: Auth, body: Json<NewCompany>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| app::consult::create_company(c, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Created().insert_header(etag(r.version)).json(r))
}

/// A compound's owners' committee and property company.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/parties", operation_id = "get_compound_parties", tag = "consultation", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PartiesView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_parties(state: web::Data<AppState>, auth: Auth, id: IdPath<OrgUnitId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::consult::get_parties(c, &actor, &id.found("compound")?)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// Records a compound's parties (the whole record). `If-Match` with the version (0 the first time).
#[utoipa::path(put, path = "/api/v1/org-units/{id}/parties", operation_id = "set_compound_parties", tag = "consultation", params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)),
    request_body = PartiesInput, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PartiesView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn set_parties(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    version: IfMatch,
    body: Json<PartiesInput>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| {
        app::consult::set_parties(c, &actor, &id.found("compound")?, version.0, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// Candidate agenda items (候选议题): categories of the compound's recent tickets that recur, were
/// reopened or left a resident dissatisfied, with the tickets behind each.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/consultation/candidates", operation_id = "list_consultation_candidates", tag = "consultation",
    params(("id" = uuid::Uuid, Path), CandidateQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<Candidate>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn candidates(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<CandidateQuery>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r =
        run(&state, lang, move |c| app::consult::candidates(c, &actor, &id.found("compound")?, q.into_inner(), lang, utc_now())).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The compound's items (议事清单、行动清单), newest first.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/consultation/items", operation_id = "list_consultation_items", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ItemFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<ItemView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_items(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<ItemFilter>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r =
        run(&state, lang, move |c| app::consult::list_items(c, &actor, &id.found("compound")?, q.into_inner(), lang, utc_now())).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Puts an item on the compound's agenda, with the compound's tickets raised to it. Send an
/// `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/org-units/{id}/consultation/items", operation_id = "create_consultation_item", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = NewItem, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_item(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<OrgUnitId>,
    body: Json<NewItem>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor.clone(), auth.lang);
    let input = body.into_inner();
    let canon = serde_json::to_string(&input).unwrap_or_default();
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        actix_web::http::StatusCode::CREATED,
        |_| Ok(()),
        move |c, ()| app::consult::add_item(c, &actor, &id.found("compound")?, input.clone(), lang, utc_now()),
    )
    .await
}

/// One item with its tickets and progress notes.
#[utoipa::path(get, path = "/api/v1/consultation/items/{id}", operation_id = "get_consultation_item", tag = "consultation", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ItemView), (status = 404, body = ErrorBody)))]
pub async fn get_item(state: web::Data<AppState>, auth: Auth, id: IdPath<ConsultItemId>) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r = run(&state, lang, move |c| app::consult::get_item(c, &actor, &id.found("consultation item")?, lang, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// Raises more of the compound's tickets to an open item (a ticket raised already stays once).
#[utoipa::path(post, path = "/api/v1/consultation/items/{id}/tickets", operation_id = "attach_consultation_tickets", tag = "consultation",
    params(("id" = uuid::Uuid, Path)), request_body = AttachTickets, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn attach_tickets(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ConsultItemId>,
    body: Json<AttachTickets>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r = run_write(&state, lang, move |c| {
        app::consult::attach_tickets(c, &actor, &id.found("consultation item")?, body.0.clone(), lang, utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// A progress note (进展) on an open item. Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/consultation/items/{id}/notes", operation_id = "add_consultation_note", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = NewNote, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<ConsultItemId>,
    body: Json<NewNote>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor.clone(), auth.lang);
    let input = body.into_inner();
    let canon = serde_json::to_string(&input).unwrap_or_default();
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        actix_web::http::StatusCode::CREATED,
        |_| Ok(()),
        move |c, ()| app::consult::add_note(c, &actor, &id.found("consultation item")?, input.clone(), lang, utc_now()),
    )
    .await
}

/// The action is done (完成), with what was done. `If-Match` with the item's version.
#[utoipa::path(post, path = "/api/v1/consultation/items/{id}/complete", operation_id = "complete_consultation_item", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = Outcome, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn complete_item(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ConsultItemId>,
    version: IfMatch,
    body: Json<Outcome>,
) -> Result<HttpResponse, ApiError> {
    close(state, auth, id, version, body, ItemState::Done).await
}

/// The item is dropped (撤销), with why; from the agenda or the action list. `If-Match` with the
/// item's version.
#[utoipa::path(post, path = "/api/v1/consultation/items/{id}/drop", operation_id = "drop_consultation_item", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = Outcome, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn drop_item(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ConsultItemId>,
    version: IfMatch,
    body: Json<Outcome>,
) -> Result<HttpResponse, ApiError> {
    close(state, auth, id, version, body, ItemState::Dropped).await
}

async fn close(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ConsultItemId>,
    version: IfMatch,
    body: Json<Outcome>,
    to: ItemState,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r = run_write(&state, lang, move |c| {
        app::consult::close_item(c, &actor, &id.found("consultation item")?, version.0, to, body.0.clone(), lang, utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// The compound's meetings, latest first.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/consultation/meetings", operation_id = "list_consultation_meetings", tag = "consultation",
    params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<MeetingLine>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_meetings(state: web::Data<AppState>, auth: Auth, id: IdPath<OrgUnitId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::consult::list_meetings(c, &actor, &id.found("compound")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Records a meeting held (议事会): attendees of the three parties, the minutes, and per agenda
/// item a decision (an action with its responsible party and deadline) or its dropping, in one
/// transaction. Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/org-units/{id}/consultation/meetings", operation_id = "hold_consultation_meeting", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = NewMeeting, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn hold_meeting(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<OrgUnitId>,
    body: Json<NewMeeting>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang, tz, st) = (auth.who.actor.clone(), auth.lang, state.visits.tz, state.clone());
    let input = body.into_inner();
    let canon = serde_json::to_string(&input).unwrap_or_default();
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        actix_web::http::StatusCode::CREATED,
        |_| Ok(()),
        move |c, ()| {
            let now = utc_now();
            let id = app::consult::hold_meeting(
                c,
                &actor,
                &id.found("compound")?,
                input.clone(),
                &tz,
                app::consult::ActionCalendar::Sla(st.sla()),
                now,
            )?;
            app::consult::get_meeting(c, &actor, &id, lang, now)
        },
    )
    .await
}

/// A meeting with the items it decided.
#[utoipa::path(get, path = "/api/v1/consultation/meetings/{id}", operation_id = "get_consultation_meeting", tag = "consultation", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MeetingView), (status = 404, body = ErrorBody)))]
pub async fn get_meeting(state: web::Data<AppState>, auth: Auth, id: IdPath<MeetingId>) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r = run(&state, lang, move |c| app::consult::get_meeting(c, &actor, &id.found("meeting")?, lang, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// Amends a meeting's place, attendees or minutes; the old and new text go into the audit trail
/// (after sign-off too). `If-Match` with the meeting's version.
#[utoipa::path(patch, path = "/api/v1/consultation/meetings/{id}", operation_id = "amend_consultation_meeting", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = MeetingChanges, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn amend_meeting(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<MeetingId>,
    version: IfMatch,
    body: Json<MeetingChanges>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r = run_write(&state, lang, move |c| {
        let (id, now) = (id.found("meeting")?, utc_now());
        app::consult::amend_meeting(c, &actor, &id, version.0, body.0.clone(), now)?;
        app::consult::get_meeting(c, &actor, &id, lang, now)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// The secretary signs the minutes off (签字确认), once. `If-Match` with the meeting's version.
#[utoipa::path(post, path = "/api/v1/consultation/meetings/{id}/sign", operation_id = "sign_consultation_meeting", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn sign_meeting(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<MeetingId>,
    version: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let r = run_write(&state, lang, move |c| {
        let (id, now) = (id.found("meeting")?, utc_now());
        app::consult::sign_meeting(c, &actor, &id, version.0, now)?;
        app::consult::get_meeting(c, &actor, &id, lang, now)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// 业绩清单: the compound's actions done in the period, due in it, or overdue at its end, with the
/// satisfaction of the tickets raised to them.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/consultation/results", operation_id = "get_consultation_results", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ResultsQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ResultsView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn results(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (actor, tz) = (auth.who.actor, state.visits.tz);
    let r =
        run(&state, auth.lang, move |c| app::consult::results(c, &actor, &id.found("compound")?, q.into_inner(), &tz, utc_now())).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// 两评价 of a compound for a year (default: last year): the parties, the criteria and their
/// weights, the thresholds, the year's evidence for the committee and the company, and the
/// compound's evaluations of every year.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/evaluations", operation_id = "get_compound_evaluations", tag = "consultation",
    params(("id" = uuid::Uuid, Path), EvaluationQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = EvaluationDesk), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn evaluations(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<EvaluationQuery>,
) -> Result<HttpResponse, ApiError> {
    let (actor, tz, st) = (auth.who.actor, state.visits.tz, state.clone());
    let r = run(&state, auth.lang, move |c| {
        app::consult::evaluation_desk(c, &actor, &id.found("compound")?, q.into_inner(), &st.settings.evaluation, &tz, utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Rates the owners' committee or the property company for a year: a score (0–100) for every
/// configured criterion, optionally the residents' representatives' score; answers the total, its
/// verdict (合格, 约谈整改, 建议解聘更换) and the evidence as it stood. Once a year per party (409
/// `already_evaluated`). Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/org-units/{id}/evaluations", operation_id = "evaluate_compound_party", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = NewEvaluation, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = EvaluationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn evaluate(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<OrgUnitId>,
    body: Json<NewEvaluation>,
) -> Result<HttpResponse, ApiError> {
    let (actor, tz, st) = (auth.who.actor.clone(), state.visits.tz, state.clone());
    let input = body.into_inner();
    let canon = serde_json::to_string(&input).unwrap_or_default();
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        actix_web::http::StatusCode::CREATED,
        |_| Ok(()),
        move |c, ()| app::consult::evaluate(c, &actor, &id.found("compound")?, input.clone(), &st.settings.evaluation, &tz, utc_now()),
    )
    .await
}

/// 据此办结: the tickets raised to a done action are solved by it, each through the workflow's
/// `mark_solved` as the caller (what was done is the resolution; each still gets its return
/// visit); the ones the caller may not solve now are listed with the reason. The compound's branch;
/// 409 `not_done` on an item not done. Asking again solves nothing twice.
#[utoipa::path(post, path = "/api/v1/consultation/items/{id}/solve-tickets", operation_id = "solve_consultation_item_tickets", tag = "consultation",
    params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = app::consult::SolvedTickets), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn solve_tickets(state: web::Data<AppState>, auth: Auth, id: IdPath<ConsultItemId>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, st) = (auth.who.actor, auth.lang, state.clone());
    let r = run(&state, lang, move |c| app::consult::solve_tickets(c, st.sla(), &actor, &id.found("consultation item")?, lang, utc_now()))
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// 更正: corrects a saved evaluation — every score again (on the criteria it was made on), the
/// residents' score, the comment and why (`reason`); the total and verdict are computed again, the
/// evidence stays as it stood, the old and new values go into the audit trail. `If-Match` with the
/// evaluation's version; the compound's branch.
#[utoipa::path(put, path = "/api/v1/evaluations/{id}", operation_id = "correct_evaluation", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = app::consult::EvaluationCorrection, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = EvaluationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn correct_evaluation(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<crate::domain::EvaluationId>,
    version: IfMatch,
    body: Json<app::consult::EvaluationCorrection>,
) -> Result<HttpResponse, ApiError> {
    let (actor, st) = (auth.who.actor, state.clone());
    let r = run_write(&state, auth.lang, move |c| {
        app::consult::correct_evaluation(c, &actor, &id.found("evaluation")?, version.0, body.0.clone(), &st.settings.evaluation, utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// A property company's evaluations in every compound it served, the latest year first.
#[utoipa::path(get, path = "/api/v1/property-companies/{id}/evaluations", operation_id = "list_company_evaluations", tag = "consultation",
    params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<EvaluationView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn company_evaluations(state: web::Data<AppState>, auth: Auth, id: IdPath<PropertyCompanyId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::consult::company_history(c, &actor, &id.found("property company")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// 业绩清单 (Excel): the results of `GET …/consultation/results` (same period and default) as a
/// workbook: a title row with the compound and the period, a summary line, one row per action with
/// its days as Excel dates and its tickets' return visits as numbers.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/consultation/results.xlsx", operation_id = "export_consultation_results_xlsx", tag = "consultation",
    params(("id" = uuid::Uuid, Path), ResultsQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the results list as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "validation_failed: a period that does not parse", body = ErrorBody)))]
pub async fn results_xlsx(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang, tz) = (auth.who.actor, auth.lang, state.visits.tz);
    let bytes = run(&state, lang, move |c| {
        let r = app::consult::results(c, &actor, &id.found("compound")?, q.into_inner(), &tz, utc_now())?;
        app::exports::consult_xlsx::results_workbook(&r, lang, tz)
    })
    .await?;
    Ok(super::exports::xlsx_response("results.xlsx").body(bytes))
}

/// 两评价台账 (Excel): every evaluation of the compound, the latest year first: party, name,
/// total, verdict, each criterion's score with its weight and comment, the residents' score, and
/// the evidence it was given with. The branch and those above it (not the rated parties).
#[utoipa::path(get, path = "/api/v1/org-units/{id}/evaluations.xlsx", operation_id = "export_evaluations_xlsx", tag = "consultation",
    params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the evaluations as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "validation_failed: the unit is no compound", body = ErrorBody)))]
pub async fn evaluations_xlsx(state: web::Data<AppState>, auth: Auth, id: IdPath<OrgUnitId>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, tz) = (auth.who.actor, auth.lang, state.visits.tz);
    let bytes = run(&state, lang, move |c| {
        let (name, history) = app::consult::evaluation_history(c, &actor, &id.found("compound")?)?;
        app::exports::consult_xlsx::evaluations_workbook(&name, &history, lang, tz, utc_now())
    })
    .await?;
    Ok(super::exports::xlsx_response("evaluations.xlsx").body(bytes))
}

/// 现场照片: a photo as evidence of a decided item's action (the raw image as the body: JPEG, PNG or
/// WebP up to `photos.max_bytes`; turned upright, scaled down, stripped of its metadata), by the
/// branch or the responsible party's representative; the same photo again is the one already
/// there (200 instead of 201). 409 `not_decided` on an item still on the agenda or dropped.
#[utoipa::path(post, path = "/api/v1/consultation/items/{id}/photos", operation_id = "upload_consultation_photo", tag = "consultation",
    params(("id" = uuid::Uuid, Path)),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "the photo: image/jpeg, image/png or image/webp"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = app::consult::ItemPhoto), (status = 200, description = "the same photo was already there", body = app::consult::ItemPhoto),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload_photo(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ConsultItemId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let lang = auth.lang;
    let bytes = super::photos::read_limited(payload, state.settings.photos.max_bytes, lang).await?;
    let cleaned = super::photos::clean(&state, bytes, lang).await?;
    let (actor, store) = (auth.who.actor, state.photos.clone());
    let (view, fresh) = run_write(&state, lang, move |c| {
        app::consult::attach_photo(c, store.as_ref(), &actor, &id.found("consultation item")?, &cleaned, utc_now())
    })
    .await?;
    Ok(if fresh { HttpResponse::Created() } else { HttpResponse::Ok() }.json(view))
}

/// An item's photo (JPEG), or its thumbnail with `size=thumb`; 404 for a photo of a compound the
/// caller does not follow.
#[utoipa::path(get, path = "/api/v1/consultation/photos/{id}", operation_id = "get_consultation_photo", tag = "consultation",
    params(("id" = uuid::Uuid, Path), super::photos::PhotoParams), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_photo(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<crate::domain::ConsultPhotoId>,
    q: web::Query<super::photos::PhotoParams>,
) -> Result<HttpResponse, ApiError> {
    let thumb = super::photos::wants_thumb(q.size.as_deref()).map_err(|e| ApiError::new(e, auth.lang))?;
    let bytes = photo_image(&state, auth.who.actor, id.found("photo").map_err(|e| ApiError::new(e, auth.lang))?, thumb, auth.lang).await?;
    Ok(HttpResponse::Ok().content_type("image/jpeg").body(bytes))
}

/// Reads an item photo's file for someone who may follow its compound's consultation.
pub async fn photo_image(
    state: &AppState,
    actor: crate::domain::Actor,
    id: crate::domain::ConsultPhotoId,
    thumb: bool,
    lang: app::Lang,
) -> Result<Vec<u8>, ApiError> {
    let row = run(state, lang, move |c| app::consult::photo_of_item(c, &actor, &id)).await?;
    super::photos::stored(state, if thumb { row.thumb_sha256 } else { row.sha256 }, lang).await
}
