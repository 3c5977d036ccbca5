-- Queue control: a person pauses, orders and edits their own waiting videos before anything is sent
-- or billed. A paused video is a queued one no engine claims (paused_at set); a paused project or
-- queue (public.queue_pauses) also pauses what is submitted into it. Claims go by priority, then by
-- each video's place (its age unless its owner moved it). All of it under RLS, on the user's rows.

-- 1. The columns. Adding nullable columns and a constant default rewrites nothing.
alter table public.videos
    add column paused_at timestamptz,
    add column priority integer not null default 0 constraint videos_priority_check
        check (priority between -1000 and 1000),
    add column queue_order double precision,  -- set for every row below
    add constraint videos_pause_only_waiting check (paused_at is null or status = 'queued');

-- each video's place in the queue is its age until its owner moves it (rows from before: their age)
update public.videos set queue_order = extract(epoch from created_at) where queue_order is null;
alter table public.videos alter column queue_order set not null;

-- what claims read first: the waiting videos in the order they are sent
create index videos_claim_order on public.videos (priority desc, queue_order, id)
    where status = 'queued' and paused_at is null;

-- 2. A user sets the priority of a submission, and pauses, orders and edits their waiting videos
-- ("own videos: change" limits the rows; the trigger below limits their edits to waiting videos).
grant insert (priority) on public.videos to authenticated;
grant update (paused_at, priority, queue_order, prompt, model, size, duration_seconds)
    on public.videos to authenticated;

create function public.videos_edit_only_waiting() returns trigger
language plpgsql set search_path = '' as $$
begin
    -- a user's edit (the engine never edits a request; an administrator may mend one)
    if current_user = 'authenticated' and old.status <> 'queued'
        and (new.prompt, new.model, new.size, new.duration_seconds)
        is distinct from (old.prompt, old.model, old.size, old.duration_seconds) then
        raise exception 'a video that has started cannot be edited' using errcode = 'check_violation';
    end if;
    return new;
end;
$$;
revoke all on function public.videos_edit_only_waiting() from public, anon, authenticated, service_role;
create trigger videos_edit_only_waiting before update of prompt, model, size, duration_seconds
    on public.videos for each row execute function public.videos_edit_only_waiting();

-- 3. Paused queues: a project's, or (project_id null) the whole queue of a user.
create table public.queue_pauses (
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    project_id uuid,
    created_at timestamptz not null default now(),
    foreign key (project_id, user_id) references public.projects (id, user_id) on delete cascade
);
create unique index queue_pauses_scope on public.queue_pauses
    (user_id, coalesce(project_id, '00000000-0000-0000-0000-000000000000'));

alter table public.queue_pauses enable row level security;
revoke all on public.queue_pauses from public, anon, authenticated;
grant select, delete on public.queue_pauses to authenticated;
grant insert (user_id, project_id) on public.queue_pauses to authenticated;
grant all on public.queue_pauses to service_role;
create policy "own queue pauses: read" on public.queue_pauses for select to authenticated
    using (user_id = (select auth.uid()));
create policy "own queue pauses: create" on public.queue_pauses for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy "own queue pauses: delete" on public.queue_pauses for delete to authenticated
    using (user_id = (select auth.uid()));

-- 4. A new video's place is its age; one submitted into a paused queue starts paused (whoever
-- inserts it).
create function public.videos_start_waiting() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    new.queue_order := extract(epoch from new.created_at);
    if exists (
        select 1 from public.queue_pauses p
        where p.user_id = new.user_id and (p.project_id is null or p.project_id = new.project_id)
    ) then
        new.paused_at := now();
    end if;
    return new;
end;
$$;
revoke all on function public.videos_start_waiting() from public, anon, authenticated, service_role;
create trigger videos_start_waiting before insert on public.videos
    for each row execute function public.videos_start_waiting();

-- 5. A user's pause and resume, in one statement each, on the server's clock. Security invoker: RLS
-- and the column grants above apply, so a user reaches only their own rows whatever p_user_id says
-- (the service role names the owner). A video waits while it is queued and nobody asked to cancel
-- or delete it.
create function public.pause_videos(p_user_id uuid, p_ids uuid[]) returns integer
language sql security invoker set search_path = '' as $$
    with changed as (
        update public.videos set paused_at = now()
        where user_id = p_user_id and id = any(p_ids) and status = 'queued' and paused_at is null
            and coalesce(requested_action, 'retry') = 'retry'
        returning 1
    )
    select count(*)::integer from changed
$$;

create function public.resume_videos(p_user_id uuid, p_ids uuid[]) returns integer
language sql security invoker set search_path = '' as $$
    with changed as (
        update public.videos set paused_at = null
        where user_id = p_user_id and id = any(p_ids) and paused_at is not null
        returning 1
    )
    select count(*)::integer from changed
$$;

create function public.pause_queue(p_user_id uuid, p_project_id uuid default null) returns integer
language sql security invoker set search_path = '' as $$
    insert into public.queue_pauses (user_id, project_id) values (p_user_id, p_project_id)
        on conflict do nothing;
    with changed as (
        update public.videos set paused_at = now()
        where user_id = p_user_id and status = 'queued' and paused_at is null
            and coalesce(requested_action, 'retry') = 'retry'
            and (p_project_id is null or project_id = p_project_id)
        returning 1
    )
    select count(*)::integer from changed
$$;

-- a video another pause still covers (the whole queue's, or its project's) stays paused
create function public.resume_queue(p_user_id uuid, p_project_id uuid default null) returns integer
language sql security invoker set search_path = '' as $$
    delete from public.queue_pauses
        where user_id = p_user_id and project_id is not distinct from p_project_id;
    with changed as (
        update public.videos v set paused_at = null
        where v.user_id = p_user_id and v.paused_at is not null
            and (p_project_id is null or v.project_id = p_project_id)
            and not exists (
                select 1 from public.queue_pauses p
                where p.user_id = v.user_id and (p.project_id is null or p.project_id = v.project_id)
            )
        returning 1
    )
    select count(*)::integer from changed
$$;

revoke all on function public.pause_videos(uuid, uuid[]), public.resume_videos(uuid, uuid[]),
    public.pause_queue(uuid, uuid), public.resume_queue(uuid, uuid) from public, anon;
grant execute on function public.pause_videos(uuid, uuid[]), public.resume_videos(uuid, uuid[]),
    public.pause_queue(uuid, uuid), public.resume_queue(uuid, uuid) to authenticated, service_role;

-- 6. Claiming, as in 20261202170000 (same signature, grants kept), except that a paused video is
-- never claimed and the queue goes by priority, then place.
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
        where q.status = 'queued' and q.paused_at is null
            and (p_models is null or (q.model = any(p_models)) <> p_exclude)
            and coalesce(q.requested_action, 'none') not in ('cancel', 'delete')
        order by q.priority desc, q.queue_order, q.id
        limit free for update skip locked
    )
    returning v.*;
end;
$$;
