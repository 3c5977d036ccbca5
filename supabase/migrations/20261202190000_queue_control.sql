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
    add column not_before timestamptz,  -- a scheduled run: no engine sends it before this time
    add constraint videos_pause_only_waiting check (paused_at is null or status = 'queued');

-- each video's place in the queue is its age until its owner moves it (rows from before: their age)
update public.videos set queue_order = extract(epoch from created_at) where queue_order is null;
alter table public.videos alter column queue_order set not null;

-- what claims read: each user's first waiting videos submitted alone, and each run's first (see 6)
create index videos_waiting_alone on public.videos (user_id, priority desc, queue_order, id)
    where status = 'queued' and paused_at is null and batch_id is null;
create index videos_waiting_in_run on public.videos (batch_id, priority desc, queue_order, id)
    where status = 'queued' and paused_at is null and batch_id is not null;

-- 2. A user sets the priority of a submission, and pauses, orders and edits their waiting videos
-- ("own videos: change" limits the rows; the trigger below limits their edits to waiting videos).
grant insert (priority, not_before) on public.videos to authenticated;
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

-- 6. Claiming, as in 20261202170000 (same signature, grants kept), except that a paused video, or one
-- scheduled for later, is never claimed, and claims take turns: every user's first waiting video before anyone's second, and
-- within a user's queue their runs take turns too, so one user's 500-video batch starves nobody; each
-- user's own order (priority, then place) decides within those turns. A video at work counts as a turn
-- taken (of its user and its run), so the turns hold from claim to claim. The advisory lock already
-- makes claimers take turns, so rows need no SKIP LOCKED.
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
        -- the only videos a claim of `free` slots can take: each run's first `free` and each user's
        -- first `free` submitted alone (their keys found one index step each), so a queue of 100,000
        -- costs what its first few do
        with recursive alone_users(k) as (
            (select q.user_id from public.videos q
                where q.status = 'queued' and q.paused_at is null and q.batch_id is null
                order by q.user_id limit 1)
            union all
            select (select q.user_id from public.videos q
                    where q.status = 'queued' and q.paused_at is null and q.batch_id is null
                        and q.user_id > a.k
                    order by q.user_id limit 1)
            from alone_users a where a.k is not null
        ), runs(k) as (
            (select q.batch_id from public.videos q
                where q.status = 'queued' and q.paused_at is null and q.batch_id is not null
                order by q.batch_id limit 1)
            union all
            select (select q.batch_id from public.videos q
                    where q.status = 'queued' and q.paused_at is null and q.batch_id is not null
                        and q.batch_id > r.k
                    order by q.batch_id limit 1)
            from runs r where r.k is not null
        ), candidates as (
            select c.* from alone_users a cross join lateral (
                select q.id, q.user_id, q.batch_id, q.priority, q.queue_order from public.videos q
                where q.user_id = a.k and q.batch_id is null and q.status = 'queued'
                    and q.paused_at is null and (q.not_before is null or q.not_before <= now())
                    and coalesce(q.requested_action, 'none') not in ('cancel', 'delete')
                    and (p_models is null or (q.model = any(p_models)) <> p_exclude)
                order by q.priority desc, q.queue_order, q.id limit free
            ) c where a.k is not null
            union all
            select c.* from runs r cross join lateral (
                select q.id, q.user_id, q.batch_id, q.priority, q.queue_order from public.videos q
                where q.batch_id = r.k and q.status = 'queued' and q.paused_at is null
                    and (q.not_before is null or q.not_before <= now())
                    and coalesce(q.requested_action, 'none') not in ('cancel', 'delete')
                    and (p_models is null or (q.model = any(p_models)) <> p_exclude)
                order by q.priority desc, q.queue_order, q.id limit free
            ) c where r.k is not null
        ), held as (
            select a.user_id, coalesce(a.batch_id, a.id) as run, count(*) as at_work
            from public.videos a
            where a.status in ('claimed', 'creating', 'generating', 'transferring')
                and (p_models is null or (a.model = any(p_models)) <> p_exclude)
            group by 1, 2
        ), waiting as (
            select q.id, q.user_id, q.priority, q.queue_order, row_number() over (
                partition by q.user_id, coalesce(q.batch_id, q.id)
                order by q.priority desc, q.queue_order, q.id
            ) + coalesce((
                select h.at_work from held h
                where h.user_id = q.user_id and h.run = coalesce(q.batch_id, q.id)
            ), 0) as run_turn
            from candidates q
        ), turns as (
            select w.id, w.queue_order, row_number() over (
                partition by w.user_id order by w.priority desc, w.run_turn, w.queue_order, w.id
            ) + coalesce((select sum(h.at_work) from held h where h.user_id = w.user_id), 0) as user_turn
            from waiting w
        )
        select t.id from turns t order by t.user_turn, t.queue_order, t.id limit free
    )
    returning v.*;
end;
$$;
