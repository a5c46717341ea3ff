"""The models of the API document (meeting-api.txt, "Models") as msgspec Structs.

Nested platform models (Resource and everything inside it, User Simple's avatar3D,
programmatic actions) use UNSET defaults: a field absent on input stays absent on output,
so what the platform stores comes back field for field. They tolerate unknown fields, since
the platform may add some before this server knows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

UnitFloat = Annotated[float, Meta(ge=0.0, le=1.0)]
# RFC 3339 with an offset, or integer milliseconds since the Unix epoch (contract 4).
Timestamp = Annotated[datetime, Meta(tz=True)] | int


class RGBA(Struct, forbid_unknown_fields=True):
    r: UnitFloat
    g: UnitFloat
    b: UnitFloat
    a: UnitFloat


DEFAULT_COLOR = RGBA(r=0.0, g=0.0, b=0.0, a=1.0)


class Model(Struct, omit_defaults=True):
    """Base of the platform's models: every field optional, absent fields stay absent."""


class ResourceOrigin(Model):
    type: str | UnsetType = UNSET
    device: str | UnsetType = UNSET
    deviceName: str | UnsetType = UNSET
    path: str | UnsetType = UNSET


class Geolocation(Model):
    latitude: float | UnsetType = UNSET
    longitude: float | UnsetType = UNSET


class Dimensions(Model):
    width: int | UnsetType = UNSET
    height: int | UnsetType = UNSET
    orientation: int | UnsetType = UNSET


class ResourceMetadata(Model):
    fileName: str | UnsetType = UNSET
    fileSize: int | UnsetType = UNSET
    fileDate: Timestamp | UnsetType = UNSET
    behaviourType: str | UnsetType = UNSET
    contentType: str | UnsetType = UNSET
    convertedFrom: str | UnsetType = UNSET
    link: str | UnsetType = UNSET
    origin: ResourceOrigin | UnsetType = UNSET
    geolocation: Geolocation | UnsetType = UNSET
    dimensions: Dimensions | UnsetType = UNSET


class ResourceDataAudio(Model):
    title: str | UnsetType = UNSET
    artist: str | UnsetType = UNSET
    album: str | UnsetType = UNSET
    genre: str | UnsetType = UNSET
    duration: int | UnsetType = UNSET
    durationFloat: float | UnsetType = UNSET


class ResourceDataVideo(Model):
    duration: int | UnsetType = UNSET
    durationFloat: float | UnsetType = UNSET
    hasAlphaChannel: bool | UnsetType = UNSET
    alphaChannel: str | UnsetType = UNSET


class ResourceDataAmazon(Model):
    asin: str | UnsetType = UNSET
    summary: str | UnsetType = UNSET
    author: list[str] | UnsetType = UNSET
    manufacturer: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    publicationDate: str | UnsetType = UNSET
    url: str | UnsetType = UNSET


class ImdbRating(Model):
    Source: str | UnsetType = UNSET
    Value: str | UnsetType = UNSET


class ResourceDataImdb(Model):
    Actors: str | UnsetType = UNSET
    Genre: str | UnsetType = UNSET
    Ratings: list[ImdbRating] | UnsetType = UNSET
    Released: str | UnsetType = UNSET
    Runtime: str | UnsetType = UNSET
    Website: str | UnsetType = UNSET
    Year: str | UnsetType = UNSET
    Trailers: list[str] | UnsetType = UNSET
    imdbID: str | UnsetType = UNSET


class ResourceDataYoutube(Model):
    videoId: str | UnsetType = UNSET
    formatId: str | UnsetType = UNSET


class ResourceDataPinterest(Model):
    pin: str | UnsetType = UNSET
    url: str | UnsetType = UNSET


class ResourceDataPixabay(Model):
    id: str | UnsetType = UNSET
    pageUrl: str | UnsetType = UNSET


class ResourceDataFacebook(Model):
    id: str | UnsetType = UNSET


class ResourceDataRemoteUrl(Model):
    url: str | UnsetType = UNSET
    urlType: str | UnsetType = UNSET
    favicon: str | UnsetType = UNSET
    title: str | UnsetType = UNSET


class LiveStreamData(Model):
    streamId: str | UnsetType = UNSET
    assetId: str | UnsetType = UNSET
    playbackUrl: str | UnsetType = UNSET
    masterUrl: str | UnsetType = UNSET


class AiGenerationData(Model):
    generationModel: str | UnsetType = UNSET
    prompt: str | UnsetType = UNSET
    revisedPrompt: str | UnsetType = UNSET
    url: str | UnsetType = UNSET


class ResourceDataDirectory(Model):
    innerContentType: str | UnsetType = UNSET
    innerContentCount: int | UnsetType = UNSET


class ChannelData(Model):
    communityId: str | UnsetType = UNSET
    channelId: str | UnsetType = UNSET
    subChannelId: str | UnsetType = UNSET
    messageId: str | UnsetType = UNSET


class GoogleDrive(Model):
    fileId: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    mimeType: str | UnsetType = UNSET


class ResourceData(Model):
    audio: ResourceDataAudio | UnsetType = UNSET
    video: ResourceDataVideo | UnsetType = UNSET
    amazon: ResourceDataAmazon | UnsetType = UNSET
    imdb: ResourceDataImdb | UnsetType = UNSET
    youtube: ResourceDataYoutube | UnsetType = UNSET
    pinterest: ResourceDataPinterest | UnsetType = UNSET
    pixabay: ResourceDataPixabay | UnsetType = UNSET
    facebook: ResourceDataFacebook | UnsetType = UNSET
    remoteUrl: ResourceDataRemoteUrl | UnsetType = UNSET
    liveStream: LiveStreamData | UnsetType = UNSET
    aiGeneration: AiGenerationData | UnsetType = UNSET
    thumbnailUrl: str | UnsetType = UNSET
    downloadUrl: str | UnsetType = UNSET
    directory: ResourceDataDirectory | UnsetType = UNSET
    channel: ChannelData | UnsetType = UNSET
    googleDrive: GoogleDrive | UnsetType = UNSET


class ActionData(Model):
    usedPropId: str | UnsetType = UNSET
    usedRoomId: str | UnsetType = UNSET
    usedNetworkId: str | UnsetType = UNSET
    usedStorylineId: str | UnsetType = UNSET
    usedQuestionId: int | UnsetType = UNSET
    usedQuestionnaireId: int | UnsetType = UNSET
    usedSegmentId: str | UnsetType = UNSET
    usedPlacementAreaId: str | UnsetType = UNSET
    usedRoomPoint: str | UnsetType = UNSET
    animationData: dict[str, Any] | UnsetType = UNSET


class ProgrammaticAction(Model):
    localId: str | UnsetType = UNSET
    eventName: str | UnsetType = UNSET
    actionName: str | UnsetType = UNSET
    actionData: ActionData | UnsetType = UNSET


class ProgrammaticActionWithChildren(ProgrammaticAction):
    childActions: list[ProgrammaticAction] | UnsetType = UNSET


class Resource(Model):
    """A Resource. Its timestamps (`created`, `updated`, `metadata.fileDate`) are stored
    and shown as RFC 3339 in UTC, whether they came as text or as epoch milliseconds."""

    id: str | UnsetType = UNSET
    created: Timestamp | UnsetType = UNSET
    updated: Timestamp | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    location: str | UnsetType = UNSET
    date: str | UnsetType = UNSET
    category: str | UnsetType = UNSET
    linkId: str | UnsetType = UNSET
    linkType: str | UnsetType = UNSET
    encryptionVersion: str | UnsetType = UNSET
    encryptionEpoch: int | UnsetType = UNSET
    encryptionEpk: str | UnsetType = UNSET
    belonging: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    metadata: ResourceMetadata | UnsetType = UNSET
    thumbnail: str | UnsetType = UNSET
    fromTemplate: bool | UnsetType = UNSET
    totalReactions: int | UnsetType = UNSET
    data: ResourceData | UnsetType = UNSET
    customParams: dict[str, Any] | UnsetType = UNSET
    actions: list[ProgrammaticActionWithChildren] | UnsetType = UNSET

    def timestamps(self) -> Iterator[tuple[tuple[str, ...], datetime | int]]:
        """The timestamps given, each with its path in the Resource."""
        for name in ("created", "updated"):
            value = getattr(self, name)
            if value is not UNSET:
                yield (name,), value
        if isinstance(self.metadata, ResourceMetadata) and self.metadata.fileDate is not UNSET:
            yield ("metadata", "fileDate"), self.metadata.fileDate


class Avatar3D(Model):
    assetId: str | UnsetType = UNSET
    assetSkins: dict[str, str] | UnsetType = UNSET
    avatarUrl: str | UnsetType = UNSET
    avatarUserId: str | UnsetType = UNSET


class UserSimple(Struct):
    """User Simple; avatar3D is left out when empty, as the API document says."""

    id: str
    firstName: str = ""
    lastName: str = ""
    privacyMode: int = 0
    avatar: str = ""
    avatar3D: Avatar3D | UnsetType = UNSET
    companyName: str = ""
    companyTitle: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.avatar3D, Avatar3D) and all(
            value in (UNSET, "", {}) for value in msgspec.structs.asdict(self.avatar3D).values()
        ):
            self.avatar3D = UNSET


class Participant(Struct):
    userId: str
    status: str


class Recurrence(Struct):
    """A series' rule (canonical RRULE text) and zone (contract 9)."""

    rule: str
    timeZone: str


class Meeting(Struct):
    """A meeting in the API's shape (plus `updated` and `participants`). A series carries
    `recurrence`; an instance of one `seriesId` and `originalStartDate`; a single meeting
    none of the three (absent, not null)."""

    meetingId: str
    created: str
    updated: str
    subject: str
    description: str
    color: RGBA
    organizerId: str
    sourceString: str
    sourceType: str
    sourcePk: str
    startDate: str
    endDate: str
    isValid: bool
    networkId: str
    participantIds: list[str]
    participants: list[Participant]
    recurrence: Recurrence | UnsetType = UNSET
    seriesId: str | UnsetType = UNSET
    originalStartDate: str | UnsetType = UNSET


# --- the deprecated API's meeting shape ------------------------------------------------------


class LegacyRoom(Struct):
    id: str
    title: str
    # The Resource exactly as the platform stored it, or null. Raw, not Raw | None, which
    # no decoder can fill (the typed client decodes it).
    thumbnail: Annotated[msgspec.Raw, Meta(description="The room's Resource as stored, or null.")]


class LegacyProp(Struct):
    id: str
    title: str


class InvitedUser(Struct):
    user: UserSimple
    status: str


class LegacyMeeting(Struct):
    id: str
    created: str
    updated: str
    startDate: str
    endDate: str
    subject: str
    roomId: str
    propId: str
    color: RGBA
    isValid: bool
    room: LegacyRoom
    prop: LegacyProp
    organizer: UserSimple
    invitedUsers: list[InvitedUser]
