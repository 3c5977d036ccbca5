-- The private `videos` bucket: files at <user_id>/<video_id>.mp4 (thumbnails .jpg, references
-- under <user_id>/references/). A user reads and writes only inside their own folder; playback uses
-- short-lived signed URLs, never public links. Hosted projects may refuse `alter table` on
-- storage.objects ("must be owner"): RLS is already on there, and these policies can also be made
-- in the dashboard (Storage -> Policies) with the same expressions.

insert into storage.buckets (id, name, public)
values ('videos', 'videos', false)
on conflict (id) do update set public = false;

create policy "own video files: read" on storage.objects for select to authenticated
    using (bucket_id = 'videos' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "own video files: upload" on storage.objects for insert to authenticated
    with check (bucket_id = 'videos' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "own video files: replace" on storage.objects for update to authenticated
    using (bucket_id = 'videos' and (storage.foldername(name))[1] = (select auth.uid())::text)
    with check (bucket_id = 'videos' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "own video files: delete" on storage.objects for delete to authenticated
    using (bucket_id = 'videos' and (storage.foldername(name))[1] = (select auth.uid())::text);
