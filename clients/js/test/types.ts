// Compiled by `npm test` (tsc --noEmit): the generated types reject wrong requests.
import { MeetingsClient, type Events, type Meeting } from "../src/index.js";

declare const client: MeetingsClient;

export async function typed(): Promise<Meeting> {
  const { meeting } = await client.createMeeting({
    sourceType: "room",
    sourceIds: ["lobby"],
    subject: "Typed",
    startDate: "2030-01-07T10:00:00Z",
    endDate: Date.UTC(2030, 0, 7, 11),
  });
  // @ts-expect-error subject is required
  await client.createMeeting({ sourceType: "room", sourceIds: ["lobby"], startDate: 0, endDate: 1 });
  // @ts-expect-error sourceType is one of direct, group, prop, room
  await client.createMeeting({ sourceType: "hall", sourceIds: [], subject: "", startDate: 0, endDate: 1 });
  // @ts-expect-error meetingId is a string
  await client.getMeeting({ meetingId: 42 });
  const empty: Record<string, never> = await client.acceptMeetingRequest({ meetingId: meeting.meetingId });
  void empty;
  client.on("meeting:onMeetingDeleted", (data: Events["meeting:onMeetingDeleted"]) => data.meetingId.toUpperCase());
  // @ts-expect-error the data of onMeetingCreated has a meeting, not a meetingId
  client.on("meeting:onMeetingCreated", (data) => data.meetingId);
  // @ts-expect-error no such event
  client.on("meeting:onNothing", () => undefined);
  return meeting;
}
