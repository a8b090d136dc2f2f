// The tables, in the common subset of SQLite and PostgreSQL. Kept by hand; the test
// `schema_rs_matches_the_live_database` compares it with the migrated schema of each back end.

diesel::table! {
    org_units (id) {
        id -> Text,
        parent_id -> Nullable<Text>,
        kind -> Text,
        code -> Text,
        name -> Text,
        path -> Text,
        depth -> Integer,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
    }
}

diesel::table! {
    people (id) {
        id -> Text,
        login -> Text,
        display_name -> Text,
        phone -> Nullable<Text>,
        password_hash -> Text,
        locale -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    memberships (id) {
        id -> Text,
        person_id -> Text,
        org_unit_id -> Text,
        role -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    categories (id) {
        id -> Text,
        code -> Text,
        name_zh -> Text,
        name_en -> Text,
        default_department_id -> Nullable<Text>,
        urgencies -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    residents (id) {
        id -> Text,
        building_id -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        id_number -> Nullable<Text>,
        unit_no -> Text,
        room -> Text,
        kind -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        household_id -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        person_id -> Text,
        token_hash -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> Text,
        login -> Text,
        person_id -> Nullable<Text>,
        succeeded -> Bool,
        reason -> Text,
        remote_addr -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    login_throttle (account, address) {
        account -> Text,
        address -> Text,
        failures -> Integer,
        decayed_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    login_usual_addresses (person_id, address) {
        person_id -> Text,
        address -> Text,
        last_success_at -> Timestamp,
    }
}

diesel::table! {
    pii_reveals (id) {
        id -> Text,
        person_id -> Text,
        role -> Text,
        org_unit_id -> Text,
        record_kind -> Text,
        record_id -> Text,
        fields -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        number -> Text,
        category_id -> Text,
        urgency -> Text,
        title -> Text,
        description -> Text,
        place_id -> Text,
        place_path -> Text,
        compound_id -> Text,
        community_id -> Text,
        address -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        resident_name -> Nullable<Text>,
        resident_phone -> Nullable<Text>,
        channel -> Text,
        filed_by -> Text,
        visit_log_id -> Nullable<Text>,
        state -> Text,
        solved_level -> Nullable<Text>,
        duplicate_of -> Nullable<Text>,
        whistle_type -> Nullable<Text>,
        reopen_count -> Integer,
        satisfaction -> Nullable<Text>,
        resolution -> Nullable<Text>,
        due_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        warn_at -> Nullable<Timestamp>,
        due_provisional -> Bool,
    }
}

diesel::table! {
    ticket_counters (day) {
        day -> Text,
        last -> BigInt,
    }
}

diesel::table! {
    ticket_assignments (id) {
        id -> Text,
        ticket_id -> Text,
        department_id -> Text,
        lead -> Bool,
        state -> Text,
        overruled -> Bool,
        dispatched_at -> Timestamp,
        ack_due_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        due_at -> Timestamp,
        original_due_at -> Nullable<Timestamp>,
        return_reason -> Nullable<Text>,
        return_note -> Nullable<Text>,
        done_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    ticket_extensions (id) {
        id -> Text,
        ticket_id -> Text,
        assignment_id -> Text,
        requested_by -> Text,
        reason -> Text,
        proposed_due_at -> Timestamp,
        original_due_at -> Timestamp,
        state -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        requested_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        shard -> Integer,
        seq -> BigInt,
        entity_kind -> Text,
        entity_id -> Text,
        actor_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        actor_unit_id -> Nullable<Text>,
        at -> Timestamp,
        action -> Text,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        reason -> Nullable<Text>,
        changes -> Text,
        prev_hash -> Text,
        hash -> Text,
        hash_version -> Integer,
    }
}

diesel::table! {
    person_writes (person_id) {
        person_id -> Text,
        wrote_lsn -> BigInt,
        wrote_at -> Timestamp,
    }
}

diesel::table! {
    audit_archives (partition_name, shard) {
        partition_name -> Text,
        shard -> Integer,
        seq -> BigInt,
        hash -> Text,
        events -> BigInt,
        detached_at -> Timestamp,
    }
}

diesel::table! {
    audit_heads (shard) {
        shard -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    idempotency_keys (person_id, key) {
        person_id -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Integer,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sla_clocks (id) {
        id -> Text,
        ticket_id -> Text,
        assignment_id -> Nullable<Text>,
        stage -> Text,
        holder_unit_id -> Text,
        holder_path -> Text,
        calendar -> Text,
        limit_text -> Text,
        started_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        warn_at -> Timestamp,
        due_at -> Timestamp,
        original_due_at -> Timestamp,
        warned_at -> Nullable<Timestamp>,
        breached_at -> Nullable<Timestamp>,
        reminders -> Integer,
        paused_at -> Nullable<Timestamp>,
        pause_reason -> Nullable<Text>,
        paused_seconds -> BigInt,
        stopped_at -> Nullable<Timestamp>,
        next_fire_at -> Nullable<Timestamp>,
        fire_seq -> BigInt,
        provisional -> Bool,
        paused_for -> Nullable<Text>,
        resolved -> Bool,
        rolled -> Bool,
    }
}

diesel::table! {
    work_calendars (name) {
        name -> Text,
        time_zone -> Text,
        office_hours -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendar_years (calendar, year) {
        calendar -> Text,
        year -> Integer,
        status -> Text,
        holidays -> Text,
        workdays -> Text,
        source -> Nullable<Text>,
        version -> BigInt,
        updated_at -> Timestamp,
        updated_by -> Nullable<Text>,
    }
}

diesel::table! {
    calendar_revision (id) {
        id -> Integer,
        revision -> BigInt,
    }
}

diesel::table! {
    sla_fires (clock_id, seq) {
        clock_id -> Text,
        seq -> BigInt,
        kind -> Text,
        fired_at -> Timestamp,
        fired_by -> Text,
        clock_started_at -> Timestamp,
    }
}

diesel::table! {
    supervision (id) {
        id -> Text,
        ticket_id -> Text,
        clock_id -> Text,
        stage -> Text,
        holder_unit_id -> Text,
        holder_path -> Text,
        breached_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        unit_id -> Text,
        ticket_id -> Nullable<Text>,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        person_id -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> Text,
        category_id -> Text,
        urgency -> Text,
        stage -> Text,
        limit_text -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    households (id) {
        id -> Text,
        building_id -> Text,
        unit_no -> Text,
        room -> Text,
        kind -> Text,
        last_visited_on -> Nullable<Date>,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    visit_logs (id) {
        id -> Text,
        client_id -> Text,
        author_id -> Text,
        grid_id -> Text,
        grid_path -> Text,
        compound_id -> Text,
        visit_date -> Date,
        households_visited -> Integer,
        observations -> Text,
        notes -> Nullable<Text>,
        submission_hash -> Text,
        late -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    visit_log_households (log_id, household_id) {
        log_id -> Text,
        household_id -> Text,
    }
}

diesel::table! {
    visit_log_return_visits (id) {
        id -> Text,
        log_id -> Text,
        ticket_id -> Text,
        satisfaction -> Text,
        note -> Nullable<Text>,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    photos (id) {
        id -> Text,
        ticket_id -> Text,
        kind -> Text,
        sha256 -> Text,
        thumb_sha256 -> Text,
        width -> Integer,
        height -> Integer,
        bytes -> BigInt,
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    property_companies (id) {
        id -> Text,
        name -> Text,
        credit_code -> Text,
        manager_name -> Text,
        manager_phone -> Nullable<Text>,
        created_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    compound_parties (compound_id) {
        compound_id -> Text,
        committee_name -> Text,
        committee_chair -> Text,
        committee_members -> Text,
        committee_phone -> Nullable<Text>,
        term_start -> Nullable<Date>,
        term_end -> Nullable<Date>,
        company_id -> Nullable<Text>,
        contract_start -> Nullable<Date>,
        contract_end -> Nullable<Date>,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    consult_meetings (id) {
        id -> Text,
        compound_id -> Text,
        held_on -> Date,
        place -> Text,
        attendees -> Text,
        minutes -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        signed_by -> Nullable<Text>,
        signed_at -> Nullable<Timestamp>,
        version -> BigInt,
    }
}

diesel::table! {
    consult_items (id) {
        id -> Text,
        compound_id -> Text,
        title -> Text,
        detail -> Text,
        category_id -> Nullable<Text>,
        state -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        meeting_id -> Nullable<Text>,
        decision -> Nullable<Text>,
        responsible -> Nullable<Text>,
        due_on -> Nullable<Date>,
        due_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        version -> BigInt,
        warn_at -> Nullable<Timestamp>,
        warned_at -> Nullable<Timestamp>,
        breached_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    consult_photos (id) {
        id -> Text,
        item_id -> Text,
        sha256 -> Text,
        thumb_sha256 -> Text,
        width -> Integer,
        height -> Integer,
        bytes -> BigInt,
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    consult_item_tickets (item_id, ticket_id) {
        item_id -> Text,
        ticket_id -> Text,
        attached_by -> Text,
        attached_at -> Timestamp,
    }
}

diesel::table! {
    consult_notes (id) {
        id -> Text,
        item_id -> Text,
        body -> Text,
        author_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    evaluations (id) {
        id -> Text,
        compound_id -> Text,
        party -> Text,
        year -> Integer,
        subject_name -> Text,
        company_id -> Nullable<Text>,
        scores -> Text,
        resident_score -> Nullable<Double>,
        resident_weight -> Double,
        total -> Double,
        verdict -> Text,
        comment -> Text,
        evidence -> Text,
        evaluated_by -> Text,
        evaluated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::joinable!(memberships -> people (person_id));
diesel::joinable!(login_usual_addresses -> people (person_id));
diesel::joinable!(households -> org_units (building_id));
diesel::joinable!(residents -> households (household_id));
diesel::joinable!(visit_logs -> people (author_id));
diesel::joinable!(visit_log_households -> visit_logs (log_id));
diesel::joinable!(visit_log_households -> households (household_id));
diesel::table! {
    deliveries (id) {
        id -> Text,
        notification_id -> Text,
        channel -> Text,
        person_id -> Nullable<Text>,
        endpoint_id -> Nullable<Text>,
        dedupe_key -> Text,
        urgent -> Bool,
        state -> Text,
        attempts -> Integer,
        due_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        read_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        digest -> Bool,
        client_id -> Nullable<Text>,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    channel_endpoints (id) {
        id -> Text,
        org_unit_id -> Text,
        kind -> Text,
        name -> Text,
        url -> Text,
        secret -> Nullable<Text>,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        events -> Text,
    }
}

diesel::table! {
    notification_settings (person_id) {
        person_id -> Text,
        email -> Nullable<Text>,
        email_events -> Text,
        quiet_hours -> Bool,
        version -> BigInt,
        updated_at -> Timestamp,
        digest -> Bool,
    }
}

diesel::table! {
    report_days (holder_path, day, measure, variant) {
        holder_path -> Text,
        day -> Date,
        measure -> Text,
        variant -> Integer,
        counted -> BigInt,
        total -> BigInt,
        overdue_seconds -> BigInt,
        overdue_working_seconds -> BigInt,
    }
}

diesel::table! {
    external_clients (id) {
        id -> Text,
        kind -> Text,
        name -> Text,
        key_id -> Text,
        key_hash -> Text,
        secret -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        scope_unit_id -> Text,
        triage_compound_id -> Text,
        person_id -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    external_categories (client_id, code) {
        client_id -> Text,
        code -> Text,
        category_id -> Text,
    }
}

diesel::table! {
    external_orders (client_id, external_id) {
        client_id -> Text,
        external_id -> Text,
        ticket_id -> Text,
        body_hash -> Text,
        revision -> Integer,
        landing -> Text,
        deadline -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    resident_links (id) {
        id -> Text,
        token -> Text,
        ticket_id -> Text,
        channel -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        rating -> Nullable<Text>,
        rating_comment -> Nullable<Text>,
        rated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_started (clock_id) {
        clock_id -> Text,
    }
}

diesel::table! {
    report_marks (shard) {
        shard -> Integer,
        seq -> BigInt,
    }
}

diesel::joinable!(visit_log_return_visits -> visit_logs (log_id));
diesel::joinable!(visit_log_return_visits -> tickets (ticket_id));
diesel::joinable!(memberships -> org_units (org_unit_id));
diesel::joinable!(categories -> org_units (default_department_id));
diesel::joinable!(residents -> org_units (building_id));
diesel::joinable!(sessions -> people (person_id));
diesel::joinable!(pii_reveals -> people (person_id));
diesel::joinable!(tickets -> categories (category_id));
diesel::joinable!(ticket_assignments -> tickets (ticket_id));
diesel::joinable!(ticket_extensions -> ticket_assignments (assignment_id));
diesel::joinable!(sla_clocks -> tickets (ticket_id));
diesel::joinable!(supervision -> tickets (ticket_id));
diesel::joinable!(deliveries -> notifications (notification_id));

diesel::joinable!(calendar_years -> work_calendars (calendar));
diesel::joinable!(consult_item_tickets -> consult_items (item_id));
diesel::joinable!(consult_item_tickets -> tickets (ticket_id));
diesel::joinable!(consult_items -> consult_meetings (meeting_id));
diesel::joinable!(consult_photos -> consult_items (item_id));
diesel::joinable!(compound_parties -> property_companies (company_id));
diesel::joinable!(external_orders -> tickets (ticket_id));
diesel::joinable!(external_orders -> external_clients (client_id));
diesel::joinable!(resident_links -> tickets (ticket_id));

diesel::allow_tables_to_appear_in_same_query!(
    report_days,
    report_marks,
    report_started,
    consult_photos,
    work_calendars,
    calendar_years,
    calendar_revision,
    org_units,
    people,
    memberships,
    categories,
    residents,
    sessions,
    login_attempts,
    login_throttle,
    login_usual_addresses,
    pii_reveals,
    tickets,
    ticket_counters,
    ticket_assignments,
    ticket_extensions,
    audit_events,
    audit_heads,
    idempotency_keys,
    sla_clocks,
    sla_fires,
    supervision,
    notifications,
    deliveries,
    channel_endpoints,
    notification_settings,
    sla_policies,
    households,
    visit_logs,
    visit_log_households,
    visit_log_return_visits,
    photos,
    property_companies,
    compound_parties,
    consult_meetings,
    consult_items,
    consult_item_tickets,
    consult_notes,
    evaluations,
    external_clients,
    external_categories,
    external_orders,
    resident_links,
);
