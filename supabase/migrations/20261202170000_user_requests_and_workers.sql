-- User actions as requests, and engine heartbeats.
-- A user's retry, cancel or delete is recorded on the video (requested_action) and carried out by the
-- engine that holds the video, or the next one that claims it: the web tier needs neither a running
-- engine nor the service-role key, and a user writes only their request, under RLS. Each engine
-- process keeps a heartbeat row in public.engines, so the dashboard can say how many workers are
-- online (users learn the count only, never hosts or pids).

-- 1. The request on the video. Existing rows get none (null); adding nullable columns rewrites nothing.
alter table public.videos
    add column requested_action text constraint videos_requested_action_check
        check (requested_action in ('retry', 'cancel', 'delete')),
    add column requested_at timestamptz;

-- 2. requested_at is the server's clock, whoever writes the request: set when the action is set or
-- changes, kept when the same action is asked again (the first request's time orders the work),
-- cleared with the action. No API role can write requested_at along with the action.
create function public.stamp_video_request() returns trigger
language plpgsql set search_path = '' as $$
begin
    if tg_op = 'INSERT' then
        new.requested_at := case when new.requested_action is null then null else now() end;
    else
        new.requested_at := case
            when new.requested_action is null then null
            when new.requested_action is distinct from old.requested_action then now()
            else old.requested_at
        end;
    end if;
    return new;
end;
$$;

-- a trigger function is no API endpoint (firing a trigger does not need EXECUTE)
revoke all on function public.stamp_video_request() from public, anon, authenticated, service_role;

create trigger videos_stamp_request before insert or update of requested_action on public.videos
    for each row execute function public.stamp_video_request();

-- 3. A user may write only the request on their own videos ("own videos: change" limits the rows);
-- requested_at is the trigger's, and the lifecycle columns stay the engine's.
grant update (requested_action) on public.videos to authenticated;

-- Requests waiting for an engine, oldest first.
create index videos_requested on public.videos (requested_at) where requested_action is not null;

-- 4. One row per running engine process, written by the engine (service role) only.
create table public.engines (
    owner text primary key,
    host text not null,
    pid integer not null,
    version text not null,
    started_at timestamptz not null,
    last_seen timestamptz not null default now(),
    videos_held integer not null default 0 check (videos_held >= 0)
);

alter table public.engines enable row level security;
revoke all on public.engines from public, anon, authenticated;
grant all on public.engines to service_role;

-- 5. An engine's heartbeat: its row, created or refreshed, last_seen by the server's clock (engines'
-- clocks may disagree, and online_workers compares with now()).
create function public.record_engine_beat(
    p_owner text, p_host text, p_pid integer, p_version text, p_started_at timestamptz, p_videos_held integer
) returns void
language sql set search_path = '' as $$
    insert into public.engines (owner, host, pid, version, started_at, last_seen, videos_held)
    values (p_owner, p_host, p_pid, p_version, p_started_at, now(), p_videos_held)
    on conflict (owner) do update set
        host = excluded.host, pid = excluded.pid, version = excluded.version,
        started_at = excluded.started_at, last_seen = now(), videos_held = excluded.videos_held
$$;

-- 6. An engine that stops says so, instead of waiting for its beat to grow old.
create function public.forget_engine(p_owner text) returns void
language sql set search_path = '' as $$
    delete from public.engines where owner = p_owner
$$;

-- 7. How many engines beat within the last p_within_seconds. security definer: signed-in users may
-- call it though they cannot read public.engines; it returns a count and nothing else.
create function public.online_workers(p_within_seconds double precision) returns integer
language sql stable security definer set search_path = '' as $$
    select count(*)::integer from public.engines
    where last_seen >= now() - make_interval(secs => p_within_seconds)
$$;

-- 8. The requests engine p_owner may carry out now: on videos that are not active, or active ones it
-- holds, or whose holder is gone (no lease owner, or an expired lease). An active video held by
-- another live engine is left to that engine. Oldest request first.
create function public.requested_videos(p_owner text, p_limit integer)
returns setof public.videos
language sql stable set search_path = '' as $$
    select v.* from public.videos v
    where v.requested_action is not null
        and (
            v.status not in ('claimed', 'creating', 'generating', 'transferring')
            or v.lease_owner = p_owner
            or v.lease_owner is null
            or v.lease_expires_at < now()
        )
    order by v.requested_at, v.id
    limit p_limit
$$;

revoke all on function public.record_engine_beat(text, text, integer, text, timestamptz, integer)
    from public, anon, authenticated;
revoke all on function public.forget_engine(text) from public, anon, authenticated;
revoke all on function public.requested_videos(text, integer) from public, anon, authenticated;
revoke all on function public.online_workers(double precision) from public, anon;
grant execute on function public.record_engine_beat(text, text, integer, text, timestamptz, integer)
    to service_role;
grant execute on function public.forget_engine(text) to service_role;
grant execute on function public.requested_videos(text, integer) to service_role;
grant execute on function public.online_workers(double precision) to authenticated, service_role;

-- 9. Claiming, as in 20261202160000 (same signature, grants kept), except that a queued video whose
-- owner asked to cancel or delete it is never claimed: it is about to be cancelled or removed and
-- must not be sent to a provider. A retry request does not stop a claim. Capacity counts as before.
create or replace function public.claim_queued_videos(
    p_owner text,
    p_capacity integer,
    p_lease_seconds double precision,
    p_models text[] default null,
    p_exclude boolean default false
)
returns setof public.videos
language plpgsql set search_path = '' as $$
declare
    free integer;
begin
    -- one claimer at a time, so the capacity count cannot be raced
    perform pg_advisory_xact_lock(hashtext('mimio.claim_queued_videos'));
    -- every active video holds a provider slot, from its claim until its file is stored
    select p_capacity - count(*) into free from public.videos a
        where a.status in ('claimed', 'creating', 'generating', 'transferring')
            and (p_models is null or (a.model = any(p_models)) <> p_exclude);
    if free <= 0 then
        return;
    end if;
    return query
    update public.videos v set
        status = 'claimed', progress = 0, error = null, failure_kind = null, external_video_id = null,
        create_started_at = null, status_note = null, started_at = now(), lease_owner = p_owner,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where v.id in (
        select q.id from public.videos q
        where q.status = 'queued' and (p_models is null or (q.model = any(p_models)) <> p_exclude)
            and coalesce(q.requested_action, 'none') not in ('cancel', 'delete')
        order by q.created_at limit free for update skip locked
    )
    returning v.*;
end;
$$;

-- 10. A video its owner deleted leaves their counts at once, before the engine removes the row and
-- its files (same signatures, security invoker: RLS applies; grants kept).
create or replace function public.project_video_counts() returns table (project_id uuid, videos bigint)
language sql stable security invoker set search_path = '' as $$
    select v.project_id, count(*) from public.videos v
    where v.project_id is not null and v.requested_action is distinct from 'delete'
    group by v.project_id
$$;

create or replace function public.video_usage() returns table (
    project_id uuid, model text, size text, videos bigint, seconds bigint
)
language sql stable security invoker set search_path = '' as $$
    select v.project_id, v.model, v.size, count(*), sum(v.duration_seconds)
    from public.videos v where v.status = 'completed' and v.requested_action is distinct from 'delete'
    group by v.project_id, v.model, v.size
$$;
