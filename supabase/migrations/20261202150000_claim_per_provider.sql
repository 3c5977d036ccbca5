-- Each provider has its own concurrency: the engine claims one provider's share of the queue at a
-- time, the videos of p_models (or, with p_exclude, of every other model), counting only that share's
-- active videos against p_capacity. Without p_models the whole queue is one share, as before.
drop function public.claim_queued_videos(text, integer, double precision);

create function public.claim_queued_videos(
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
    select p_capacity - count(*) into free from public.videos a
        where a.status = 'processing' and (p_models is null or (a.model = any(p_models)) <> p_exclude);
    if free <= 0 then
        return;
    end if;
    return query
    update public.videos v set
        status = 'processing', progress = 0, error = null, external_video_id = null,
        create_started_at = null, started_at = now(), lease_owner = p_owner,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where v.id in (
        select q.id from public.videos q
        where q.status = 'queued' and (p_models is null or (q.model = any(p_models)) <> p_exclude)
        order by q.created_at limit free for update skip locked
    )
    returning v.*;
end;
$$;

revoke all on function public.claim_queued_videos(text, integer, double precision, text[], boolean)
    from public, anon, authenticated;
grant execute on function public.claim_queued_videos(text, integer, double precision, text[], boolean)
    to service_role;
