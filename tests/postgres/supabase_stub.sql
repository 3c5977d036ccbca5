-- TEST-ONLY stub of what a Supabase project provides before any migration runs. Never apply it to a
-- real Supabase project: it is the minimum the migrations in supabase/migrations/ rely on, so that
-- tests/postgres can run them on a plain PostgreSQL 15 and exercise Row Level Security by switching
-- role and JWT claims exactly as PostgREST does (`set local role ...` plus `request.jwt.claims`).

-- Roles PostgREST switches to. They are cluster-wide, so a second database reuses them.
do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
end
$$;

-- Supabase Auth: the users table (only the columns the migrations use) and auth.uid().
create schema auth;
create table auth.users (
    id uuid primary key,
    email text
);
create function auth.uid() returns uuid
language sql stable as $$
    select nullif(current_setting('request.jwt.claims', true)::json->>'sub', '')::uuid
$$;

-- Supabase Storage: buckets, objects (RLS on, no policies: nothing is allowed until a migration
-- adds policies) and storage.foldername(), which splits a path into its folders.
create schema storage;
create table storage.buckets (
    id text primary key,
    name text,
    public boolean
);
create table storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text references storage.buckets (id),
    name text,
    owner uuid,
    created_at timestamptz default now()
);
alter table storage.objects enable row level security;
create function storage.foldername(name text) returns text[]
language sql immutable as $$
    select (string_to_array(name, '/'))[1:array_length(string_to_array(name, '/'), 1) - 1]
$$;

-- Privileges as Supabase grants them: usage on the API schemas, and (through default privileges)
-- everything on new public tables, functions and sequences to all three API roles, which is why
-- a migration must revoke what `anon` and `authenticated` should not have.
grant usage on schema public, auth, storage to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
grant all on storage.objects, storage.buckets to authenticated, service_role;
grant select on storage.buckets to anon;
grant all on auth.users to service_role;
