// The demo page: one MeetingsClient per tab, everything through its typed methods.
// Serve the repository root (`python3 -m http.server -b 127.0.0.1 8000`) after building the
// client (`npm --prefix clients/js ci`), then open http://127.0.0.1:8000/examples/web/.
import { MeetingsClient } from "../../clients/js/dist/index.js";

const $ = (selector) => document.querySelector(selector);
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const DAY = 24 * 3600 * 1000;
let client = null;
let me = "";

/** The `sub` of a JWT (for display only: the server checks the token). */
function subject(token) {
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/"))).sub;
}

function localDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(y, m - 1, d);
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function sundayOf(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() - date.getDay());
}

const when = (iso) => new Date(iso).toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const ids = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function show(error) {
  $("#error").textContent = error ? String(error.message ?? error) : "";
}

async function guarded(run) {
  try {
    show(null);
    await run();
  } catch (error) {
    show(error);
  }
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

async function refreshWeek() {
  const start = sundayOf(localDay($("#week").value));
  const { meetings } = await client.listUserMeetings({
    startDate: start.getTime(),
    endDate: start.getTime() + 7 * DAY,
  });
  $("#meetings").replaceChildren(...meetings.map(meetingItem));
  const { availability } = await client.getUserAvailabilityForWeek({ localDate: start.getTime() + DAY / 2, timeZone: zone });
  $("#availability").replaceChildren(
    ...availability.dates.map((span) => element("li", { textContent: `${availability.status}: ${when(span.startDate)} - ${when(span.endDate)}` })),
  );
}

function meetingItem(meeting) {
  const mine = meeting.participants.find((p) => p.userId === me);
  const item = element("li", {}, element("strong", { textContent: meeting.subject }), ` ${when(meeting.startDate)} - ${when(meeting.endDate)}, by ${meeting.organizerId} `);
  item.dataset.meetingId = meeting.meetingId;
  item.dataset.subject = meeting.subject;
  if (meeting.organizerId !== me && mine) {
    for (const [label, method] of [["Accept", "acceptMeetingRequest"], ["Decline", "declineMeetingRequest"]]) {
      const button = element("button", { type: "button", textContent: label, disabled: mine.status === label.toLowerCase() + "ed" });
      button.addEventListener("click", () => guarded(() => client[method]({ meetingId: meeting.meetingId })));
      item.append(button);
    }
  }
  const people = meeting.participants.filter((p) => p.userId !== meeting.organizerId);
  item.append(element("div", { className: "participants", textContent: people.map((p) => `${p.userId}: ${p.status}`).join(", ") }));
  return item;
}

function logEvent(name, text) {
  $("#events").prepend(element("li", { textContent: `${new Date().toLocaleTimeString()} ${name} ${text}` }));
}

function signIn(url, token) {
  me = subject(token);
  $("#who").textContent = me;
  client = new MeetingsClient(url, { token });
  client.onStatus((status, detail) => {
    $("#status").dataset.status = status;
    $("#status").textContent = detail ? `${status} (${detail.code})` : status;
    if (status === "open") guarded(refreshWeek); // also after a reconnection: catch up what we show
  });
  for (const name of ["meeting:onMeetingCreated", "meeting:onMeetingUpdated"]) {
    client.on(name, ({ meeting }) => {
      logEvent(name, meeting.subject);
      guarded(refreshWeek);
    });
  }
  client.on("meeting:onMeetingDeleted", ({ meetingId }) => (logEvent("meeting:onMeetingDeleted", meetingId), guarded(refreshWeek)));
  client.on("connection:recoveryIncomplete", () => guarded(refreshWeek));
  $("#sign-in").hidden = true;
  $("#app").hidden = false;
}

$("#week").value = isoDay(new Date());
$("#slots").day.value = isoDay(new Date());
$("#week").addEventListener("change", () => guarded(refreshWeek));

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  guarded(() => signIn(form.url.value.trim(), form.token.value.trim()));
});

$("#create").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const start = new Date(form.start.value).getTime();
  guarded(async () => {
    await client.createMeeting({
      sourceType: "room",
      sourceIds: [form.room.value.trim()],
      subject: form.subject.value,
      startDate: start,
      endDate: start + Number(form.minutes.value) * 60_000,
      invitedUserIds: ids(form.invited.value),
    });
    form.subject.value = "";
  });
});

$("#set-office-hours").addEventListener("click", () =>
  guarded(async () => {
    const monday = new Date(sundayOf(localDay($("#week").value)).getTime() + DAY);
    const at = (hour) => new Date(monday.getFullYear(), monday.getMonth(), monday.getDate(), hour).getTime();
    // repetition: one bit per weekday, Sunday = 1 ... Saturday = 64; 62 is Monday to Friday.
    await client.setUserAvailability({
      availability: { status: "Available", repetition: 62, dates: [{ startDate: at(9), endDate: at(17) }] },
      localDate: at(12),
      timeZone: zone,
    });
    await refreshWeek();
  }),
);

$("#slots").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  guarded(async () => {
    const day = localDay(form.day.value);
    const { availableTimeSlots } = await client.getTimeSlotsForMeeting({
      users: ids(form.users.value).map((id) => ({ roomful: id })),
      localDate: day.getTime() + DAY / 2,
      timeZone: zone,
      includeSelf: true,
    });
    $("#free-slots").replaceChildren(
      ...availableTimeSlots.map((slot) => element("li", { textContent: `${when(slot.startDate)} - ${when(slot.endDate)}` })),
    );
    if (!availableTimeSlots.length) $("#free-slots").append(element("li", { textContent: "no common free time" }));
  });
});
