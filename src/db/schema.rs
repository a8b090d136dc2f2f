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
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
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

diesel::joinable!(memberships -> people (person_id));
diesel::joinable!(memberships -> org_units (org_unit_id));
diesel::joinable!(categories -> org_units (default_department_id));
diesel::joinable!(residents -> org_units (building_id));
diesel::joinable!(sessions -> people (person_id));
diesel::joinable!(pii_reveals -> people (person_id));

diesel::allow_tables_to_appear_in_same_query!(
    org_units,
    people,
    memberships,
    categories,
    residents,
    sessions,
    login_attempts,
    pii_reveals,
);
