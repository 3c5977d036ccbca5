-- Mimio: projects and videos, owned by Supabase Auth users, guarded by Row Level Security.
-- The columns mirror the embedded SQLite schema (mimio_core/store/sqlite.py).
-- Users (role `authenticated`) read and manage their own rows; the engine, which must finish a
-- user's video after their tab has closed, works with the service role through the functions at
-- the end of this file. `anon` gets nothing.

create table public.projects (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    name text not null check (length(btrim(name)) between 1 and 80),
    description text not null default '' check (length(description) <= 500),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (user_id, name),
    unique (id, user_id) -- the target of videos' composite key
);

create table public.videos (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    project_id uuid,
    title text not null check (length(btrim(title)) between 1 and 120),
    prompt text not null check (length(btrim(prompt)) between 1 and 2000),
    model text not null check (length(model) between 1 and 100),
    size text not null check (size ~ '^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$'),
    duration_seconds integer not null check (duration_seconds between 1 and 600),
    status text not null default 'queued' check (status in ('queued', 'processing', 'completed', 'failed')),
    progress integer not null default 0 check (progress between 0 and 100),
    external_video_id text,
    error text,
    storage_path text,
    thumbnail_path text,
    reference_path text,
    batch_id uuid,
    lease_owner text,
    lease_expires_at timestamptz,
    created_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default now(),
    started_at timestamptz,
    create_started_at timestamptz,
    completed_at timestamptz,
    -- a video can only be filed under a project of the same user (a plain key would ignore RLS)
    foreign key (project_id, user_id) references public.projects (id, user_id) on delete set null (project_id),
    check (status <> 'completed' or storage_path is not null)
);

create index videos_user_created on public.videos (user_id, created_at desc);
create index videos_user_project on public.videos (user_id, project_id);
create index videos_unfinished on public.videos (status, created_at) where status in ('queued', 'processing');
create index projects_user on public.projects (user_id);

create function public.touch_updated_at() returns trigger
language plpgsql set search_path = '' as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create trigger projects_updated_at before update on public.projects
    for each row execute function public.touch_updated_at();
create trigger videos_updated_at before update on public.videos
    for each row execute function public.touch_updated_at();

-- Row Level Security: a user sees and changes only their own rows.
alter table public.projects enable row level security;
alter table public.videos enable row level security;

create policy "own projects: read" on public.projects for select to authenticated
    using ((select auth.uid()) = user_id);
create policy "own projects: create" on public.projects for insert to authenticated
    with check ((select auth.uid()) = user_id);
create policy "own projects: change" on public.projects for update to authenticated
    using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "own projects: delete" on public.projects for delete to authenticated
    using ((select auth.uid()) = user_id);

create policy "own videos: read" on public.videos for select to authenticated
    using ((select auth.uid()) = user_id);
create policy "own videos: create" on public.videos for insert to authenticated
    with check ((select auth.uid()) = user_id);
create policy "own videos: change" on public.videos for update to authenticated
    using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "own videos: delete" on public.videos for delete to authenticated
    using ((select auth.uid()) = user_id);

-- Column privileges: a user records new videos and renames or refiles them; the lifecycle columns
-- (status, progress, provider job, files, leases) are the engine's alone.
revoke all on public.projects, public.videos from anon, authenticated;
grant select, delete on public.projects, public.videos to authenticated;
grant insert (id, name, description) on public.projects to authenticated;
grant update (name, description) on public.projects to authenticated;
grant insert (id, project_id, title, prompt, model, size, duration_seconds, batch_id, reference_path)
    on public.videos to authenticated;
grant update (title, project_id) on public.videos to authenticated;
grant all on public.projects, public.videos to service_role;

-- Per-user summaries, computed where the rows are (security invoker: RLS applies).
create function public.project_video_counts() returns table (project_id uuid, videos bigint)
language sql stable security invoker set search_path = '' as $$
    select v.project_id, count(*) from public.videos v
    where v.project_id is not null group by v.project_id
$$;

create function public.video_usage() returns table (
    project_id uuid, model text, size text, videos bigint, seconds bigint
)
language sql stable security invoker set search_path = '' as $$
    select v.project_id, v.model, v.size, count(*), sum(v.duration_seconds)
    from public.videos v where v.status = 'completed'
    group by v.project_id, v.model, v.size
$$;

-- The engine's atomic steps (service role only). Status changes keep to the state machine that
-- mimio_core/status.py defines; these functions perform only queued -> processing.
create function public.claim_queued_videos(p_owner text, p_capacity integer, p_lease_seconds double precision)
returns setof public.videos
language plpgsql set search_path = '' as $$
declare
    free integer;
begin
    -- one claimer at a time, so the capacity count cannot be raced
    perform pg_advisory_xact_lock(hashtext('mimio.claim_queued_videos'));
    select p_capacity - count(*) into free from public.videos where status = 'processing';
    if free <= 0 then
        return;
    end if;
    return query
    update public.videos v set
        status = 'processing', progress = 0, error = null, external_video_id = null,
        create_started_at = null, started_at = now(), lease_owner = p_owner,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where v.id in (
        select q.id from public.videos q where q.status = 'queued'
        order by q.created_at limit free for update skip locked
    )
    returning v.*;
end;
$$;

create function public.hold_video_leases(p_owner text, p_lease_seconds double precision)
returns setof public.videos
language plpgsql set search_path = '' as $$
begin
    update public.videos set lease_owner = p_owner,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where status = 'processing'
        and (lease_owner = p_owner or lease_owner is null or lease_expires_at < now());
    return query select * from public.videos
        where status = 'processing' and lease_owner = p_owner order by created_at;
end;
$$;

create function public.record_video_progress(
    p_id uuid, p_owner text, p_progress integer, p_external_video_id text
) returns boolean
language sql set search_path = '' as $$
    with changed as (
        update public.videos set
            progress = greatest(progress, least(100, greatest(0, p_progress))),
            external_video_id = coalesce(p_external_video_id, external_video_id)
        where id = p_id and status = 'processing' and lease_owner = p_owner
        returning 1
    )
    select exists (select 1 from changed)
$$;

revoke all on function public.claim_queued_videos(text, integer, double precision) from public, anon, authenticated;
revoke all on function public.hold_video_leases(text, double precision) from public, anon, authenticated;
revoke all on function public.record_video_progress(uuid, text, integer, text) from public, anon, authenticated;
grant execute on function public.claim_queued_videos(text, integer, double precision) to service_role;
grant execute on function public.hold_video_leases(text, double precision) to service_role;
grant execute on function public.record_video_progress(uuid, text, integer, text) to service_role;
revoke all on function public.project_video_counts() from public, anon;
revoke all on function public.video_usage() from public, anon;
grant execute on function public.project_video_counts() to authenticated, service_role;
grant execute on function public.video_usage() to authenticated, service_role;
