-- Explicit video states instead of the coarse 'processing' (mimio_core/status.py holds the same table):
--   queued        recorded, waiting for a provider slot
--   claimed       an engine holds it (lease) and will send its create call (or waits out a busy provider)
--   creating      the create call is out: whether the provider started a job is not known yet
--   generating    the provider has the job (external_video_id)
--   transferring  the provider finished; the engine downloads and stores the file
--   completed, failed, cancelled: final (failed and cancelled can be retried)
-- claimed, creating, generating and transferring are "active": they hold a lease and count against a
-- provider's capacity. A failed video says why in failure_kind (for the app; `error` stays the text
-- for people), and the database itself refuses any status change the state machine does not allow.

-- 1. Why a video failed, as a kind the app can act on (retry, recover, explain).
alter table public.videos add column failure_kind text;

-- 2. The old check allows only the four coarse states: drop it, then map every existing row to its
-- explicit state. Nothing is lost: a 'processing' row's state follows from what it already records
-- (a job id, a create call sent), a cancelled video was recorded as failed with 'Cancelled.' first,
-- and a failed row's kind follows from the engine's error text. This runs before the transition
-- trigger (step 5) exists: these changes (processing -> claimed, failed -> cancelled) are not moves
-- a running video makes.
alter table public.videos drop constraint videos_status_check;

-- The mapping must not rewrite anything else. updated_at is when a final video ended (cards show how
-- long it took), so the touch trigger is off meanwhile. videos_reference_in_own_folder is NOT VALID
-- because rows recorded before it may break it, yet an update checks every row it writes: dropped
-- here and added back below exactly as it was (NOT VALID), so such a row does not abort the migration.
alter table public.videos disable trigger videos_updated_at;
alter table public.videos drop constraint videos_reference_in_own_folder;

update public.videos set
    status = case
        when status = 'processing' and external_video_id is not null then 'generating'
        when status = 'processing' and create_started_at is not null then 'creating'
        when status = 'processing' then 'claimed'
        when error like 'Cancelled.%' then 'cancelled'
        else 'failed'
    end,
    failure_kind = case
        when status = 'processing' or error like 'Cancelled.%' then null
        when error like 'This video cannot be made:%' then 'invalid'
        when error like 'The provider refused the video%' then 'refused'
        when error like 'Could not start the video within%' then 'not_started'
        when error like 'The app stopped while the provider was starting%' then 'unknown_start'
        when error like 'Could not start the video%' then 'unknown_start'
        when error like 'Timed out after%' then 'timed_out'
        when error like '%Storage refused%' then 'storage_refused'
        when error like 'The provider''s video could not be fetched%' then 'transfer_failed'
        when error like 'Download or storage failed%' then 'transfer_failed'
        when error like 'Storing the video failed%' then 'internal'
        when error like 'Reading its reference failed%' then 'internal'
        else 'provider_failed' -- including a failed row without an error
    end
where status in ('processing', 'failed');

alter table public.videos add constraint videos_reference_in_own_folder check (
    reference_path is null
    or reference_path ~ ('^' || user_id::text || '/references/[0-9a-f]{64}\.[a-z0-9]{2,5}$')
) not valid;
alter table public.videos enable trigger videos_updated_at;

-- 3. The eight states, the nine kinds, and a kind exactly on failed rows (a retry or recovery clears
-- it in the same update that leaves 'failed').
alter table public.videos add constraint videos_status_check check (status in (
    'queued', 'claimed', 'creating', 'generating', 'transferring', 'completed', 'failed', 'cancelled'
));
alter table public.videos add constraint videos_failure_kind_check check (failure_kind in (
    'invalid', 'refused', 'not_started', 'unknown_start', 'provider_failed', 'timed_out',
    'transfer_failed', 'storage_refused', 'internal'
));
alter table public.videos add constraint videos_failure_kind_only_when_failed
    check ((status = 'failed') = (failure_kind is not null));

-- 4. The allowed status changes, as data: the trigger below reads it, and the app may too.
create table public.video_transitions (
    from_status text not null,
    to_status text not null,
    primary key (from_status, to_status)
);

insert into public.video_transitions (from_status, to_status) values
    ('queued', 'claimed'), ('queued', 'cancelled'),
    -- the create call goes out; the request cannot be made (its reference); cancelled
    ('claimed', 'creating'), ('claimed', 'failed'), ('claimed', 'cancelled'),
    -- the provider has the job; the call is known not to have started one (try again)
    ('creating', 'generating'), ('creating', 'claimed'), ('creating', 'failed'), ('creating', 'cancelled'),
    ('generating', 'transferring'), ('generating', 'failed'), ('generating', 'cancelled'),
    ('transferring', 'completed'), ('transferring', 'failed'), ('transferring', 'cancelled'),
    -- retry as a new generation, or recover a provider job that finished after all
    ('failed', 'queued'), ('failed', 'generating'),
    ('cancelled', 'queued');
-- a completed video is final: no row starts at 'completed'

-- Readable by signed-in users and the engine, writable by no API role (not even the service role,
-- which would otherwise be able to widen the state machine it is held to).
alter table public.video_transitions enable row level security;
revoke all on public.video_transitions from public, anon, authenticated, service_role;
grant select on public.video_transitions to authenticated, service_role;
create policy "video transitions: read" on public.video_transitions for select
    to authenticated, service_role using (true);

-- 5. Every writer, the service role included, is held to the state machine: a status change that is
-- not in video_transitions is refused, whatever client or bug attempts it.
create function public.enforce_video_transition() returns trigger
language plpgsql set search_path = '' as $$
begin
    if new.status is distinct from old.status and not exists (
        select 1 from public.video_transitions t
        where t.from_status = old.status and t.to_status = new.status
    ) then
        raise exception 'a video cannot go from % to %', old.status, new.status
            using errcode = 'check_violation';
    end if;
    return new;
end;
$$;

-- a trigger function is no API endpoint (firing a trigger does not need EXECUTE)
revoke all on function public.enforce_video_transition() from public, anon, authenticated, service_role;

create trigger videos_enforce_transition before update of status on public.videos
    for each row execute function public.enforce_video_transition();

-- 6. The engine's functions, same signatures (their grants stay), over the four active states.
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
        order by q.created_at limit free for update skip locked
    )
    returning v.*;
end;
$$;

create or replace function public.hold_video_leases(p_owner text, p_lease_seconds double precision)
returns setof public.videos
language plpgsql set search_path = '' as $$
begin
    update public.videos set lease_owner = p_owner,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where status in ('claimed', 'creating', 'generating', 'transferring')
        and (lease_owner = p_owner or lease_owner is null or lease_expires_at < now());
    return query select * from public.videos
        where status in ('claimed', 'creating', 'generating', 'transferring') and lease_owner = p_owner
        order by created_at;
end;
$$;

create or replace function public.record_video_progress(
    p_id uuid, p_owner text, p_progress integer, p_external_video_id text, p_note text default null
) returns boolean
language sql set search_path = '' as $$
    with changed as (
        update public.videos set
            progress = greatest(progress, least(100, greatest(0, p_progress))),
            external_video_id = coalesce(p_external_video_id, external_video_id),
            status_note = left(p_note, 500)
        where id = p_id and status in ('claimed', 'creating', 'generating', 'transferring')
            and lease_owner = p_owner
        returning 1
    )
    select exists (select 1 from changed)
$$;

-- 7. The engine's scans of unfinished videos: queued and the four active states.
drop index public.videos_unfinished;
create index videos_unfinished on public.videos (status, created_at)
    where status in ('queued', 'claimed', 'creating', 'generating', 'transferring');

-- 8. Nothing else changes: policies, column grants (status and failure_kind are the engine's alone,
-- so failure_kind is granted to no user), video_usage, project_video_counts, completed-has-a-file.
