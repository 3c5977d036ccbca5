-- Where a processing video is at its provider, in the provider's terms ("Waiting at fal.ai,
-- position 3", "Generating at fal.ai", "Not started yet: ... trying again in 8 s"): hosted
-- platforms give no percentage, so the card shows this instead of a fake one. The engine writes it
-- with the video's progress; every change of status clears it (the store's transition door).
alter table public.videos add column status_note text
    check (status_note is null or char_length(status_note) <= 500);

drop function public.record_video_progress(uuid, text, integer, text);

create function public.record_video_progress(
    p_id uuid, p_owner text, p_progress integer, p_external_video_id text, p_note text default null
) returns boolean
language sql set search_path = '' as $$
    with changed as (
        update public.videos set
            progress = greatest(progress, least(100, greatest(0, p_progress))),
            external_video_id = coalesce(p_external_video_id, external_video_id),
            status_note = left(p_note, 500)
        where id = p_id and status = 'processing' and lease_owner = p_owner
        returning 1
    )
    select exists (select 1 from changed)
$$;

revoke all on function public.record_video_progress(uuid, text, integer, text, text)
    from public, anon, authenticated;
grant execute on function public.record_video_progress(uuid, text, integer, text, text) to service_role;
